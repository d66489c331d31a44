"""The status pages' templates (exporter/web/templates): Jinja2 with autoescaping, so every value
a template inserts is escaped unless a helper below made it HTML itself (and escaped what it
took in). Loaded at the first page request: start-up and /metrics never import Jinja2.

The helpers are the pages' vocabulary: `text` (a string from a server or a client, escaped and
isolated as its own bidirectional run), `when` / `coming` (a moment as "12 s ago" / "in 12 s",
the date on hover), `age`, `num` (numbers and byte sizes)."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from exporter import __version__

if TYPE_CHECKING:
    import jinja2
    from markupsafe import Markup


@functools.cache
def environment() -> jinja2.Environment:
    import jinja2  # here: the first page request pays for it, not the start or a scrape

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("exporter.web", "templates"),
        autoescape=True,  # every template, whatever its name: .css and .js are included raw
        undefined=jinja2.StrictUndefined,  # a misspelt name fails the page test, not silently
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        text=text, when=when, coming=coming, age=age, num=num, day=day, prose=code_spans
    )
    env.globals.update(version=__version__)
    return env


def render(name: str, **context: Any) -> str:
    return environment().get_template(name).render(**context)


def page(name: str, **context: Any) -> bytes:
    """A whole page as bytes; backslashreplace: a string that escaped the parsers' cleaning
    (a lone surrogate) still cannot fail the page."""
    return render(name, **context).encode("utf-8", "backslashreplace")


def _markup() -> Callable[[str], Markup]:
    from markupsafe import Markup

    return Markup


def _escape(value: str) -> str:
    from markupsafe import escape

    return str(escape(value))


def text(value: str) -> Markup:
    """A string from a server or a client, made harmless: escaped and isolated as its own
    bidirectional run, so right-to-left overrides cannot reorder the text around it."""
    return _markup()(f"<bdi>{_escape(value)}</bdi>")


_CODE = re.compile(r"`([^`]+)`")


def code_spans(value: str) -> Markup:
    """Runbook prose: escaped, with `code` spans kept as code."""
    return _markup()(_CODE.sub(r"<code>\1</code>", _escape(value)))


def day(seconds: float, form: str = "%Y-%m-%d %H:%M UTC") -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime(form)


def when(seconds: float | None, now: float) -> Markup | str:
    if seconds is None:
        return "never"
    moment = day(seconds, "%Y-%m-%d %H:%M:%S UTC")
    return _markup()(f'<span title="{moment}">{age(now - seconds)} ago</span>')


def coming(seconds: float | None, now: float) -> Markup | str:
    """When something is due: "in 12 s" (its moment on hover), "now" when overdue."""
    if seconds is None:
        return "-"
    moment = day(seconds, "%Y-%m-%d %H:%M:%S UTC")
    due = "now" if seconds - now < 0.5 else f"in {age(seconds - now)}"
    return _markup()(f'<span title="{moment}">{due}</span>')


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
