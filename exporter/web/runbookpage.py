"""/runbooks: docs/runbooks.md served by the exporter itself, made from the same alerts table, so
the status pages' links work air-gapped and always match the running version's rules."""

from __future__ import annotations

from exporter.alerts.alert import RUNBOOKS_URL
from exporter.alerts.catalogue import ALERTS
from exporter.web.templating import page


def runbooks_page() -> bytes:
    return page(
        "runbooks.html",
        title="Runbooks - Rocket.Chat exporter",
        refresh="",
        alerts=ALERTS,
        runbooks_url=RUNBOOKS_URL,
    )
