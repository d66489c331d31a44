"""Every collector the exporter has, in exposition order: each module of exporter/collectors
that declares a COLLECTOR, found at import (a new collector is one new module plus its tests,
see CONTRIBUTING.md). The poller, the state bookkeeping, the renderer, the status pages, the
config's `collectors` key, the metric table of docs/reference.md#metrics and the contract test
iterate this table.

The collectors are found by name, not imported here: they sit above this machinery (they
import it), and a module of the folder is all a new one needs."""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any

from exporter.collecting.base import Collected, Collector, Family, Request
from exporter.collecting.families import EXPORTER_FAMILIES, WORKSPACE_FAMILIES
from exporter.model.config import WorkspaceConfig

PACKAGE = "exporter.collectors"


def discover(package: str = PACKAGE) -> tuple[Collector, ...]:
    """The COLLECTOR of each module of the package, by rank; two of one name is an error."""
    found: dict[str, Collector] = {}
    for module_info in pkgutil.iter_modules(importlib.import_module(package).__path__):
        module = importlib.import_module(f"{package}.{module_info.name}")
        collector = getattr(module, "COLLECTOR", None)
        if not isinstance(collector, Collector):
            continue
        if collector.name in found:
            raise ValueError(f"two collectors are named {collector.name!r}")
        found[collector.name] = collector
    return tuple(sorted(found.values(), key=lambda c: (c.rank, c.name)))


COLLECTORS: dict[str, Collector] = {c.name: c for c in discover()}
OPTIONAL = {name: c for name, c in COLLECTORS.items() if c.optional}
DEFAULTS = {name: c.default_enabled for name, c in OPTIONAL.items()}  # the config's defaults
# endpoint label -> its collector and request
REQUESTS: dict[str, tuple[Collector, Request[Any]]] = {
    r.endpoint: (c, r) for c in COLLECTORS.values() for r in c.requests
}
FAMILIES: tuple[Family, ...] = (
    *WORKSPACE_FAMILIES,
    *(f for c in COLLECTORS.values() for f in c.families),
    *EXPORTER_FAMILIES,
)
ORDER = [f.name for f in FAMILIES]
# who can tell the running version, the most current first
_VERSION_SOURCES = tuple(
    sorted((c for c in COLLECTORS.values() if c.version is not None), key=lambda c: c.version_rank)
)


def running_version(workspace: Collected) -> str | None:
    """The version the workspace runs: the first collector that can tell it (info's live
    /api/info, else the newest statistics record's)."""
    for collector in _VERSION_SOURCES:
        assert collector.version is not None
        version = collector.version(workspace)
        if version is not None:
            return version
    return None


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
