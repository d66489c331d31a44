"""What a request to Rocket.Chat can end in: a PollError with one of the contract's reasons, or a
Response with the rate-limit budget the server announced (its headers validated: nonsense counts
as absent)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any


class PollError(Exception):
    """A failed request; `reason` is one of the contract's error reasons."""

    def __init__(
        self,
        reason: str,
        message: str,
        *,
        retry_at: float | None = None,
        error: str = "",
        source: str = "request",
        status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.retry_at = retry_at  # Unix seconds from X-RateLimit-Reset, when the server said
        self.error = error  # the body's `error` code, e.g. "totp-required"
        # "request": the data request failed; "login": a login request failed;
        # "skipped": no request was made (login paused after failures)
        self.source = source
        self.status = status  # the HTTP status, where the reason came from one


@dataclass(frozen=True)
class Response:
    """A successful JSON answer plus the rate-limit budget the server announced."""

    body: Any
    rate_remaining: int | None
    rate_reset: float | None


def reset_seconds(headers: Any) -> float | None:
    """X-RateLimit-Reset is absolute Unix time in *milliseconds*; nonsense counts as absent."""
    raw = headers.get("x-ratelimit-reset")
    if not isinstance(raw, str) or len(raw) > 32:
        return None
    try:
        value = float(raw)
    except ValueError:
        return None
    seconds = value / 1000.0  # a tiny positive value underflows to 0.0: absent too
    return seconds if math.isfinite(seconds) and seconds > 0 else None


def remaining(headers: Any) -> int | None:
    """X-RateLimit-Remaining: a count of requests, so a non-negative integer or absent."""
    raw = headers.get("x-ratelimit-remaining")
    if not isinstance(raw, str) or len(raw) > 12 or not (raw.isascii() and raw.strip().isdigit()):
        return None
    return int(raw)
