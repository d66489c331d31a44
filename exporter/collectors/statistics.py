"""Core: the newest statistics record, every statistics_interval (rendered by
encoder.render_statistics). Never `count=0`, `refresh=true`, `fields` or `query`: the default
sort returns the OLDEST record, and refresh writes a snapshot and resets the daily peak."""

from __future__ import annotations

from typing import Any

from exporter.collectors.base import Collector, Request
from exporter.collectors.catalogue import STATISTICS_FAMILIES
from exporter.collectors.records import Statistics, parse_statistics_list
from exporter.model.config import Config

PATH = "/api/v1/statistics.list"
PARAMS = {"sort": '{"createdAt":-1}', "count": "1"}


def _parse(body: Any, config: Config) -> Statistics | None:
    return parse_statistics_list(body, config.extra_statistics)


COLLECTOR = Collector(
    name="statistics",
    summary="the newest statistics record: users, rooms, messages, uploads, usage, deployment",
    requests=(
        Request(
            "statistics.list",
            PATH,
            _parse,
            params=lambda: PARAMS,
            query_doc='?sort={"createdAt":-1}&count=1',
        ),
    ),
    interval=lambda workspace: workspace.statistics_interval,
    interval_doc="statistics_interval",
    families=STATISTICS_FAMILIES,
    optional=False,
    default_enabled=True,
    permission="view-statistics",
    versions="3.10+",
)
