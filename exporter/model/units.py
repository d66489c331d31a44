"""Durations and sizes: parsing "30s", "5m", "500ms", "16MiB", and exponential backoff."""

from __future__ import annotations

import math
import re

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*(B|KB|MB|GB|KiB|MiB|GiB)?")
_SIZE_UNITS = {
    None: 1,
    "B": 1,
    "KB": 1000,
    "MB": 1000**2,
    "GB": 1000**3,
    "KiB": 1024,
    "MiB": 1024**2,
    "GiB": 1024**3,
}


def parse_duration(value: object) -> float:
    """Seconds from a number (seconds) or a string like "1m30s"; raises ValueError."""
    if isinstance(value, bool):
        raise ValueError("expected a duration like 30s, 5m or 500ms")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip()
        pos = 0
        seconds = 0.0
        for match in _DURATION_PART.finditer(text):
            if match.start() != pos:
                break
            seconds += float(match.group(1)) * _DURATION_UNITS[match.group(2)]
            pos = match.end()
        if pos == 0 or pos != len(text):
            raise ValueError("expected a duration like 30s, 5m or 500ms")
    else:
        raise ValueError("expected a duration like 30s, 5m or 500ms")
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError("must be a positive duration")
    return seconds


def parse_size(value: object) -> int:
    """Bytes from an integer or a string like "16MiB"; raises ValueError."""
    if isinstance(value, bool):
        raise ValueError("expected a size like 16MiB or 1000000")
    if isinstance(value, int):
        size = value
    elif isinstance(value, str):
        match = _SIZE.fullmatch(value.strip())
        if not match:
            raise ValueError("expected a size like 16MiB or 1000000")
        size = int(float(match.group(1)) * _SIZE_UNITS[match.group(2)])
    else:
        raise ValueError("expected a size like 16MiB or 1000000")
    if size <= 0:
        raise ValueError("must be a positive size")
    return size


def backoff(steps: int, base: float, cap: float = 300.0) -> float:
    """Seconds to wait after `steps` consecutive failures: base, 2x base, 4x base, ... up to cap."""
    return min(cap, base * 2.0 ** (steps - 1))
