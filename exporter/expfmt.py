"""The two primitives of the Prometheus text format (0.0.4) every renderer shares."""

from __future__ import annotations


def escape(value: str) -> str:
    """Label value escaping of the text format: backslash, double quote, newline."""
    if "\\" in value or '"' in value or "\n" in value:
        value = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return value


def fmt(value: float) -> str:
    """Integers without a fraction (exact and compact), everything else as Python's repr."""
    value = float(value)
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(value)
