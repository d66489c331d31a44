"""Small HTML helpers of the status pages: harmless text, ages, numbers, tables."""

from __future__ import annotations

import html
from datetime import UTC, datetime


def html_text(value: str) -> str:
    """A string from a server or a client, made harmless: HTML-escaped and isolated as its own
    bidirectional run, so right-to-left overrides cannot reorder the text around it."""
    return f"<bdi>{html.escape(value)}</bdi>"


def when(seconds: float | None, now: float) -> str:
    if seconds is None:
        return "never"
    moment = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return f'<span title="{moment}">{age(now - seconds)} ago</span>'


def coming(seconds: float | None, now: float) -> str:
    """When something is due: "in 12 s" (its moment on hover), "now" when overdue."""
    if seconds is None:
        return "-"
    moment = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    text = "now" if seconds - now < 0.5 else f"in {age(seconds - now)}"
    return f'<span title="{moment}">{text}</span>'


def age(seconds: float) -> str:
    seconds = max(0.0, seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return (
                f"{seconds / size:.1f} {unit}"
                if seconds < 10 * size
                else f"{seconds // size:.0f} {unit}"
            )
    return f"{seconds:.0f} s"


def num(value: float | None, unit: str = "") -> str:
    if value is None:
        return "-"
    if unit == "bytes":
        for suffix, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
            if value >= size:
                return f"{value / size:.1f} {suffix}"
        return f"{value:.0f} B"
    return f"{value:g}"


def table(head: list[str], rows: str, empty: str) -> str:
    cells = "".join(f"<th>{h}</th>" for h in head)
    body = rows or f'<tr><td colspan="{len(head)}" class="muted">{empty}</td></tr>'
    html_table = f"<table><thead><tr>{cells}</tr></thead><tbody>{body}</tbody></table>"
    return f'<div class="scroll">{html_table}</div>'
