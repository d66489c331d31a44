"""One process's own health: GET /livez (7.11+, JSON) or GET /health (5.3-7.10, text)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ..parse import ParseError, number, only_parse_errors

_PERCENT = re.compile(r"\s*([0-9.]+)\s*%\s*")
_MILLIS = re.compile(r"\s*([0-9.]+)\s*ms\b.*")


@dataclass(frozen=True)
class Health:
    healthy: bool
    heap_ratio: float | None = None  # 0..1
    event_loop_lag_seconds: float | None = None
    database_healthy: bool | None = None  # None: the answer has no mongo check


def _ratio(memory: dict[str, Any]) -> float | None:
    """`percentile` is a percentage despite its name; `usage` is text like "45.67%"."""
    value = number(memory.get("percentile"))
    if value is None and isinstance(memory.get("usage"), str):
        match = _PERCENT.fullmatch(memory["usage"][:32])
        value = number(match.group(1)) if match else None
    return None if value is None or not 0 <= value <= 1000 else value / 100


def _lag(loop: dict[str, Any]) -> float | None:
    """`lagMs` a number, or `lag` text like "12.34ms (p99)"."""
    value = number(loop.get("lagMs"))
    if value is None and isinstance(loop.get("lag"), str):
        match = _MILLIS.fullmatch(loop["lag"][:64])
        value = number(match.group(1)) if match else None
    return None if value is None or value < 0 else value / 1000


@only_parse_errors
def parse_livez(body: Any) -> Health:
    """The /livez JSON (200 or 503: both are answers, the status says which)."""
    if not isinstance(body, dict) or body.get("status") not in ("ok", "unavailable"):
        raise ParseError("answer has no status ok/unavailable")
    raw_checks = body.get("checks")
    checks: dict[str, Any] = raw_checks if isinstance(raw_checks, dict) else {}
    memory, loop, mongo = (checks.get(k) for k in ("memory", "eventLoop", "mongo"))
    return Health(
        healthy=body["status"] == "ok",
        heap_ratio=_ratio(memory) if isinstance(memory, dict) else None,
        event_loop_lag_seconds=_lag(loop) if isinstance(loop, dict) else None,
        database_healthy=mongo.get("status") == "ok" if isinstance(mongo, dict) else None,
    )


def parse_health_text(status: int, text: str) -> Health:
    """/health before 7.11: 200 `ok`, or 500 `not healthy` (realtime data stopped). Anything
    else — a servers before 5.3 answers 200 with the web client's HTML — is not a health answer."""
    body = text.strip()
    if status == 200 and body == "ok":
        return Health(healthy=True)
    if status == 500 and body == "not healthy":
        return Health(healthy=False)
    raise ParseError(f"not a /health answer (HTTP {status})")
