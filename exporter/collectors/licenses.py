"""licenses.maxActiveUsers (4.0+) and licenses.info?loadValues=true (6.5+): seats, limits,
prevented actions, trial, modules and expiry."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..parse import ParseError, clean, number, only_parse_errors, timestamp
from .answers import successful

UNLIMITED = (None, 0, -1)  # what maxActiveUsers sends for "no seat limit"


@dataclass(frozen=True)
class Seats:
    used: float | None  # activeUsers, computed live by the server
    max: float | None  # None: no seat limit


@dataclass(frozen=True)
class Limit:
    kind: str
    max: float | None  # None: unlimited (-1)
    value: float | None  # the live counter (with loadValues and view-privileged-setting)


@dataclass(frozen=True)
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
    return clean(name) if isinstance(name, str) and 0 < len(name) <= 64 else None


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
