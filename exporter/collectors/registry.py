"""The optional collectors the exporter can poll, each declared once: its request, default
interval, pure parser and the permission it needs. The poller, the state bookkeeping, the
renderer's `rocketchat_exporter_collector_success` and the status pages iterate this table;
a failing optional collector never changes `rocketchat_up`.

The core endpoints (instances.get, statistics.list) are not in it yet: moving them here is the
rest of issue 13's registry.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ..configmodel import WorkspaceConfig
from .info import parse_info


@dataclass(frozen=True)
class OptionalCollector:
    name: str  # the config key, the `collector` label and the `endpoint` label of its request
    path: str
    params: Mapping[str, str] | None
    default_interval: Callable[[WorkspaceConfig], float]
    parse: Callable[[Any], Any]
    permission: str  # what the exporter's user needs ("" when nothing)


OPTIONAL: dict[str, OptionalCollector] = {
    "info": OptionalCollector(
        name="info",
        path="/api/info",
        params=None,
        default_interval=lambda workspace: workspace.statistics_interval,
        parse=parse_info,
        permission="view-statistics (for the full version; anyone gets X.Y)",
    ),
}

# the core collectors and the endpoint each one polls (for collector_success)
CORE = {"instances": "instances.get", "statistics": "statistics.list"}


def enabled_optional(workspace: WorkspaceConfig) -> tuple[tuple[OptionalCollector, float], ...]:
    """The workspace's optional collectors with the interval each runs at."""
    return tuple(
        (OPTIONAL[name], interval or OPTIONAL[name].default_interval(workspace))
        for name, interval in workspace.collectors
        if name in OPTIONAL
    )
