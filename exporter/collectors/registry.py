"""Every collector the exporter has, in exposition order. The poller, the state bookkeeping, the
renderer, the status pages, the config's `collectors` key, the metric table of
docs/reference.md#metrics and the contract test iterate this table: a new collector is one new
module plus its tests (see CONTRIBUTING.md)."""

from __future__ import annotations

from exporter.collectors import (
    health,
    info,
    instances,
    licenses,
    links,
    omnichannel,
    statistics,
)
from exporter.collectors.base import Collector, Family, Request
from exporter.collectors.catalogue import EXPORTER_FAMILIES, WORKSPACE_FAMILIES
from exporter.model.config import WorkspaceConfig

COLLECTORS: dict[str, Collector] = {
    c.name: c
    for c in (
        instances.COLLECTOR,
        statistics.COLLECTOR,
        info.COLLECTOR,
        licenses.COLLECTOR,
        health.COLLECTOR,
        links.COLLECTOR,
        omnichannel.COLLECTOR,
    )
}
OPTIONAL = {name: c for name, c in COLLECTORS.items() if c.optional}
DEFAULTS = {name: c.default_enabled for name, c in OPTIONAL.items()}  # the config's defaults
# endpoint label -> its collector and request
REQUESTS: dict[str, tuple[Collector, Request]] = {
    r.endpoint: (c, r) for c in COLLECTORS.values() for r in c.requests
}
FAMILIES: tuple[Family, ...] = (
    *WORKSPACE_FAMILIES,
    *(f for c in COLLECTORS.values() for f in c.families),
    *EXPORTER_FAMILIES,
)
ORDER = [f.name for f in FAMILIES]


def enabled(workspace: WorkspaceConfig) -> tuple[tuple[Collector, float], ...]:
    """The workspace's collectors, core and optional, with the interval each runs at."""
    chosen = dict(workspace.collectors)
    found = []
    for collector in COLLECTORS.values():
        if collector.name == "statistics" and not workspace.statistics:
            continue
        if collector.optional and collector.name not in chosen:
            continue
        found.append((collector, chosen.get(collector.name) or collector.interval(workspace)))
    return tuple(found)


def endpoints(workspace: WorkspaceConfig) -> list[tuple[str, float]]:
    """Every request polled for the workspace, as (endpoint, interval)."""
    return [(r.endpoint, interval) for c, interval in enabled(workspace) for r in c.requests]
