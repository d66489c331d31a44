"""GET /api/info: the version the server runs now (the statistics record lags up to a day), and
since 6.5 its support window: the date the official mobile and desktop apps stop accepting the
version (`supportedVersions.signed`, a JWT whose payload is read, not verified: the exporter
reports what the server says) and the oldest client versions it accepts."""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from exporter.collecting.answers import successful
from exporter.collecting.base import Collected, Collector, Family, Key, Out, Request
from exporter.collecting.expfmt import escape, fmt
from exporter.collecting.families import WORKSPACE_INFO
from exporter.rocketchat.values import clean, only_parse_errors

_FULL_VERSION = re.compile(r"\d+\.\d+\.\d+\S*")
_MAJOR_MINOR = re.compile(r"(\d{1,4})\.(\d{1,4})(?:\.|$)")
_CLIENT_VERSION = re.compile(r"[0-9A-Za-z.+-]{1,32}")
MAX_TOKEN = 256 * 1024  # a real one is a few KiB
SUPPORT_END = "rocketchat_workspace_version_support_end_timestamp_seconds"
CLIENT_MINIMUM = "rocketchat_workspace_client_minimum_info"
FAMILIES = (
    Family(
        SUPPORT_END,
        "gauge",
        "When the official mobile and desktop apps stop accepting the workspace's version "
        "(6.5+, from /api/info supportedVersions, as the server says it): the latest of the "
        "matching exception's and version's expirations and the enforcement start date.",
        ("workspace",),
    ),
    Family(
        CLIENT_MINIMUM,
        "gauge",
        "1, labelled with the oldest desktop and mobile app versions the workspace accepts "
        "(/api/info minimumClientVersions, 6.5+).",
        ("workspace", "desktop", "mobile"),
    ),
)


@dataclass(frozen=True, slots=True)
class Info:
    """What /api/info says: the running version (full when visible, else None), its X.Y as
    matched against the support list, the support window and the minimum client versions."""

    version: str | None = None
    major_minor: tuple[int, int] | None = None
    support_end: float | None = None  # Unix seconds
    minimum: tuple[str, str] | None = None  # (desktop, mobile)
    problem: str = ""  # why the support list cannot be read (said once, not a failure)


@only_parse_errors
def parse_info(body: Any) -> Info:
    """The answer -> Info. `info.version` when the caller may see it (view-statistics on 6.5+,
    admin before), else the top-level `version` if it has three parts; "X.Y" alone (anonymous
    on 4.0+) is not the running version, but is what the support list is matched by."""
    answer = successful(body)
    info = answer.get("info")
    version = None
    for candidate in (
        info.get("version") if isinstance(info, dict) else None,
        answer.get("version"),
    ):
        if (
            isinstance(candidate, str)
            and len(candidate) <= 64
            and _FULL_VERSION.fullmatch(candidate)
        ):
            version = clean(candidate)
            break
    major_minor = _major_minor(version or answer.get("version"))
    support_end, problem = None, ""
    signed = answer.get("supportedVersions")
    if isinstance(signed, dict) and signed.get("signed") is not None:
        try:
            payload = token_payload(signed["signed"])
            support_end = window_end(payload, major_minor) if major_minor else None
        except ValueError as exc:
            problem = f"supportedVersions cannot be read ({exc}): no support window"
    return Info(version, major_minor, support_end, _minimum(answer), problem)


def token_payload(token: Any) -> dict[str, Any]:
    """The payload of a JWT (three base64url parts, unpadded), read and not verified."""
    if not isinstance(token, str) or len(token) > MAX_TOKEN:
        raise ValueError("not a token")
    parts = token.split(".")
    if len(parts) != 3:
        raise ValueError("not three parts")
    try:
        raw = base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4))
        payload = json.loads(raw)
    except (binascii.Error, ValueError, RecursionError):
        raise ValueError("the payload is not base64url JSON") from None
    if not isinstance(payload, dict):
        raise ValueError("the payload is not an object")
    return payload


def window_end(payload: dict[str, Any], running: tuple[int, int]) -> float | None:
    """The latest of the matching exception's expiration, the matching version's expiration
    and enforcementStartDate (each keeps the version supported while it lies ahead, as the
    clients check them); None when the payload has none of them."""
    exceptions = payload.get("exceptions")
    candidates = [
        _matching(exceptions.get("versions") if isinstance(exceptions, dict) else None, running),
        _matching(payload.get("versions"), running),
        _date(payload.get("enforcementStartDate")),
    ]
    present = [c for c in candidates if c is not None]
    return max(present) if present else None


def _matching(entries: Any, running: tuple[int, int]) -> float | None:
    """The latest expiration among the entries for the running major.minor."""
    if not isinstance(entries, list):
        return None
    found = []
    for entry in entries[:1000]:
        version = entry.get("version") if isinstance(entry, dict) else None
        if isinstance(version, str) and _major_minor(version[:64]) == running:
            expiration = _date(entry.get("expiration"))
            if expiration is not None:
                found.append(expiration)
    return max(found) if found else None


def _major_minor(version: Any) -> tuple[int, int] | None:
    """(major, minor) of "X.Y" or "X.Y.Z…", None for anything else."""
    found = _MAJOR_MINOR.match(version) if isinstance(version, str) and len(version) <= 64 else None
    return (int(found[1]), int(found[2])) if found else None


def _date(value: Any) -> float | None:
    if not isinstance(value, str) or len(value) > 64:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed.timestamp() if parsed.tzinfo is not None else None


def _minimum(answer: dict[str, Any]) -> tuple[str, str] | None:
    found = answer.get("minimumClientVersions")
    if not isinstance(found, dict):
        return None
    desktop, mobile = found.get("desktop"), found.get("mobile")
    if not all(isinstance(v, str) and _CLIENT_VERSION.fullmatch(v) for v in (desktop, mobile)):
        return None
    return str(desktop), str(mobile)


def latest(workspace: Collected) -> Info | None:
    return workspace.get(ANSWER)


def _version(workspace: Collected) -> str | None:
    info = workspace.get(ANSWER)
    return info.version if info is not None else None


def render(ws_label: str, workspace: Collected, out: Out) -> None:
    info = latest(workspace)
    if info is None:
        return
    if info.support_end is not None:
        out[SUPPORT_END].append(f"{SUPPORT_END}{{{ws_label}}} {fmt(info.support_end)}\n")
    if info.minimum is not None:
        desktop, mobile = (escape(v) for v in info.minimum)
        out[CLIENT_MINIMUM].append(
            f'{CLIENT_MINIMUM}{{{ws_label},desktop="{desktop}",mobile="{mobile}"}} 1\n'
        )


ANSWER: Key[Info] = Key("info")

COLLECTOR = Collector(
    name="info",
    summary="the version the server runs now (feeds rocketchat_workspace_info), its support "
    "window and the oldest apps it accepts",
    requests=(
        Request(
            ANSWER,
            "/api/info",
            lambda body, config: parse_info(body),
            note=lambda info: info.problem,
        ),
    ),
    interval=lambda workspace: workspace.statistics_interval,
    interval_doc="statistics_interval",
    families=(WORKSPACE_INFO, *FAMILIES),  # workspace_info: the bookkeeping's (see version)
    rank=30,
    render=render,
    version=_version,  # live: before the statistics record's
    version_rank=10,
    default_enabled=True,
    permission="view-statistics (for the full version; anyone gets X.Y and the support list)",
    versions="all (the full version for a privileged caller, the support list, since 6.5)",
)
