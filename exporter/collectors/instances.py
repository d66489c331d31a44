"""Core: GET /api/v1/instances.get every poll_interval (rendered by encoder.render_instances)."""

from __future__ import annotations

from typing import Any

from exporter.collectors.base import Collector, Request
from exporter.collectors.catalogue import INSTANCES_FAMILIES
from exporter.collectors.records import InstancesAnswer, parse_instances
from exporter.model.config import Config

PATH = "/api/v1/instances.get"


def _parse(body: Any, config: Config) -> InstancesAnswer:
    return parse_instances(body)


COLLECTOR = Collector(
    name="instances",
    summary="every server process of the workspace, its host and its cluster links",
    requests=(Request("instances.get", PATH, _parse),),
    interval=lambda workspace: workspace.poll_interval,
    interval_doc="poll_interval",
    families=INSTANCES_FAMILIES,
    optional=False,
    default_enabled=True,
    permission="view-statistics",
    versions="3.10+",
)
