"""licenses.maxActiveUsers (4.0+) and licenses.info?loadValues=true (6.5+): seats, limits,
prevented actions, trial, modules and expiry."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

from exporter.collecting.answers import successful
from exporter.collecting.base import Collected, Collector, Family, Key, Out, Request
from exporter.collecting.expfmt import escape, fmt
from exporter.rocketchat.values import ParseError, clean, number, only_parse_errors, timestamp

UNLIMITED = (None, 0, -1)  # what maxActiveUsers sends for "no seat limit"


@dataclass(frozen=True, slots=True)
class Seats:
    used: float | None  # activeUsers, computed live by the server
    max: float | None  # None: no seat limit


@dataclass(frozen=True, slots=True)
class Limit:
    kind: str
    max: float | None  # None: unlimited (-1)
    value: float | None  # the live counter (with loadValues and view-privileged-setting)


@dataclass(frozen=True, slots=True)
class License:
    limits: tuple[Limit, ...]
    prevented: tuple[tuple[str, bool], ...]  # kind -> creating more is blocked
    trial: bool | None
    modules: tuple[str, ...]
    expiry: float | None  # Unix seconds; only with view-privileged-setting


@only_parse_errors
def parse_max_active_users(body: Any) -> Seats:
    answer = successful(body)
    if "activeUsers" not in answer and "maxActiveUsers" not in answer:
        raise ParseError("answer has neither activeUsers nor maxActiveUsers")
    ceiling = number(answer.get("maxActiveUsers"))
    return Seats(
        used=number(answer.get("activeUsers")),
        max=None if ceiling in UNLIMITED else ceiling,
    )


def _kind(name: Any) -> str | None:
    """A limit, action or module name: the same few words in every workspace, kept once."""
    return sys.intern(clean(name)) if isinstance(name, str) and 0 < len(name) <= 64 else None


@only_parse_errors
def parse_licenses_info(body: Any) -> License:
    answer = successful(body)
    license_ = answer.get("license")
    if not isinstance(license_, dict):
        raise ParseError("answer has no 'license' object")
    limits = []
    raw_limits = license_.get("limits")
    for name, limit in raw_limits.items() if isinstance(raw_limits, dict) else ():
        kind = _kind(name)
        if kind is None or not isinstance(limit, dict):
            continue
        ceiling = number(limit.get("max"))
        limits.append(Limit(kind, None if ceiling == -1 else ceiling, number(limit.get("value"))))
    prevented = []
    raw_prevented = license_.get("preventedActions")
    for name, blocked in raw_prevented.items() if isinstance(raw_prevented, dict) else ():
        kind = _kind(name)
        if kind is not None and isinstance(blocked, bool):
            prevented.append((kind, blocked))
    modules = license_.get("activeModules")
    trial = license_.get("trial")
    return License(
        limits=tuple(limits[:100]),
        prevented=tuple(prevented[:100]),
        trial=trial if isinstance(trial, bool) else None,
        modules=tuple(m for m in map(_kind, modules if isinstance(modules, list) else ()) if m)[
            :100
        ],
        expiry=_expiry(license_.get("license")),
    )


def _expiry(document: Any) -> float | None:
    """validation.validPeriods[]: the entry whose invalidBehavior is invalidate_license."""
    validation = document.get("validation") if isinstance(document, dict) else None
    periods = validation.get("validPeriods") if isinstance(validation, dict) else None
    for period in periods if isinstance(periods, list) else ():
        if isinstance(period, dict) and period.get("invalidBehavior") == "invalidate_license":
            return timestamp(period.get("validUntil"))
    return None


SEATS_USED = "rocketchat_license_seats_used"
SEATS_MAX = "rocketchat_license_seats_max"
LIMIT = "rocketchat_license_limit"
USAGE = "rocketchat_license_usage"
PREVENTED = "rocketchat_license_action_prevented"
TRIAL = "rocketchat_license_trial"
MODULE = "rocketchat_license_module_info"
EXPIRY = "rocketchat_license_expiry_timestamp_seconds"
MAX_ACTIVE_USERS: Key[Seats] = Key("licenses.maxActiveUsers")
INFO: Key[License] = Key("licenses.info")

FAMILIES = (
    Family(
        SEATS_USED,
        "gauge",
        "Seats in use: active users as the license counts them (licenses.maxActiveUsers "
        "activeUsers, computed live).",
    ),
    Family(
        SEATS_MAX,
        "gauge",
        "Seats the license allows (licenses.maxActiveUsers maxActiveUsers); absent when there "
        "is no seat limit.",
    ),
    Family(
        LIMIT,
        "gauge",
        "A limit of the license by kind (licenses.info limits.<kind>.max); absent when "
        "unlimited or without view-privileged-setting.",
        ("workspace", "kind"),
    ),
    Family(
        USAGE,
        "gauge",
        "The live counter a license limit is checked against (licenses.info limits.<kind>.value).",
        ("workspace", "kind"),
    ),
    Family(
        PREVENTED,
        "gauge",
        "1 while the license blocks creating more of this kind (licenses.info "
        "preventedActions), else 0.",
        ("workspace", "kind"),
    ),
    Family(TRIAL, "gauge", "1 if the license is a trial (licenses.info trial), else 0."),
    Family(
        MODULE,
        "gauge",
        "A licensed module that is active (licenses.info activeModules); the value is 1.",
        ("workspace", "module"),
    ),
    Family(
        EXPIRY,
        "gauge",
        "When the license stops being valid (licenses.info validPeriods entry with "
        "invalidBehavior invalidate_license), as Unix time; needs view-privileged-setting.",
    ),
)


def _line(out: Out, family: str, labels: str, value: float) -> None:
    out[family].append(f"{family}{{{labels}}} {fmt(value)}\n")


def render(ws_label: str, workspace: Collected, out: Out) -> None:
    seats = workspace.get(MAX_ACTIVE_USERS)
    if seats is not None:
        if seats.used is not None:
            _line(out, SEATS_USED, ws_label, seats.used)
        if seats.max is not None:
            _line(out, SEATS_MAX, ws_label, seats.max)
    license_ = workspace.get(INFO)
    if license_ is None:
        return
    for limit in license_.limits:
        kind = f'{ws_label},kind="{escape(limit.kind)}"'
        if limit.max is not None:
            _line(out, LIMIT, kind, limit.max)
        if limit.value is not None:
            _line(out, USAGE, kind, limit.value)
    for name, blocked in license_.prevented:
        _line(out, PREVENTED, f'{ws_label},kind="{escape(name)}"', float(blocked))
    if license_.trial is not None:
        _line(out, TRIAL, ws_label, float(license_.trial))
    for module in license_.modules:
        _line(out, MODULE, f'{ws_label},module="{escape(module)}"', 1)
    if license_.expiry is not None:
        _line(out, EXPIRY, ws_label, license_.expiry)


PRIVILEGED = (
    "limits and expiry not visible: grant the exporter's user view-privileged-setting "
    "(RocketChatLicenseExpiringSoon cannot fire without it)"
)


def info_note(found: License) -> str:
    """An answer without limits and expiry: the user lacks view-privileged-setting."""
    if not found.limits and found.expiry is None:
        return PRIVILEGED
    return ""


COLLECTOR = Collector(
    name="licenses",
    summary="seats used and licensed, license limits and usage, prevented actions, trial, "
    "modules, expiry",
    requests=(
        Request(
            MAX_ACTIVE_USERS,
            "/api/v1/licenses.maxActiveUsers",
            lambda body, config: parse_max_active_users(body),
        ),
        Request(
            INFO,
            "/api/v1/licenses.info",
            lambda body, config: parse_licenses_info(body),
            params=lambda: {"loadValues": "true"},
            query_doc="?loadValues=true",
            note=info_note,
        ),
    ),
    interval=lambda workspace: workspace.statistics_interval,
    interval_doc="statistics_interval",
    families=FAMILIES,
    rank=40,
    render=render,
    default_enabled=True,
    permission="any logged-in user; limits, usage and expiry need view-privileged-setting",
    versions="maxActiveUsers 4.0+, licenses.info 6.5+",
)
