"""/runbooks: docs/runbooks.md served by the exporter itself, made from the same alerts table, so
the status pages' links work air-gapped and always match the running version's rules."""

from __future__ import annotations

import html
import re

from exporter.alerts.alert import RUNBOOKS_URL
from exporter.alerts.catalogue import ALERTS
from exporter.web.layout import page

_CODE = re.compile(r"`([^`]+)`")


def _prose(text: str) -> str:
    """Runbook text: escaped, with `code` spans kept as code."""
    return _CODE.sub(r"<code>\1</code>", html.escape(text))


def runbooks_page() -> bytes:
    index = "".join(
        f'<li><a href="#{a.anchor}">{a.name}</a> <span class="muted">({a.severity}: '
        f"{html.escape(a.title)})</span></li>"
        for a in ALERTS
    )
    sections = "".join(
        f'<h2 id="{a.anchor}">{a.name}</h2>'
        f'<p><a class="alert {a.severity}">{html.escape(a.title)}</a> {a.severity}; the rule '
        f"fires {a.fires} (the status pages show it at once)</p>"
        f"<pre>{html.escape(a.expr)}</pre>"
        f"<p><b>What it means.</b> {_prose(a.meaning)}</p>"
        f"<p><b>How to confirm.</b> {_prose(a.confirm)}</p>"
        f"<p><b>What to do.</b> {_prose(a.action)}</p>"
        for a in ALERTS
    )
    main = (
        "<h1>Runbooks</h1><p>One section per alert rule; the same text as "
        f'<a href="{html.escape(RUNBOOKS_URL)}">docs/runbooks.md</a>, which every rule\'s '
        f"<code>runbook_url</code> points at.</p><ul>{index}</ul>{sections}"
    )
    return page(
        "Runbooks - Rocket.Chat exporter", main, "", '<a href="/">&larr; all workspaces</a>'
    )
