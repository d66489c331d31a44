"""GET /api/info: the version the server runs now (the statistics record lags up to a day)."""

from __future__ import annotations

import re
from typing import Any

from exporter.collectors.answers import successful
from exporter.collectors.base import Collector, Request
from exporter.collectors.catalogue import INFO_FAMILIES
from exporter.rocketchat.values import clean, only_parse_errors

_FULL_VERSION = re.compile(r"\d+\.\d+\.\d+\S*")


@only_parse_errors
def parse_info(body: Any) -> str | None:
    """`info.version` when the caller may see it (view-statistics on 6.5+, admin before), else
    the top-level `version` if it has three parts; "X.Y" alone (anonymous on 4.0+) is not the
    running version, so None."""
    answer = successful(body)
    info = answer.get("info")
    for candidate in (
        info.get("version") if isinstance(info, dict) else None,
        answer.get("version"),
    ):
        if (
            isinstance(candidate, str)
            and len(candidate) <= 64
            and _FULL_VERSION.fullmatch(candidate)
        ):
            return clean(candidate)
    return None


COLLECTOR = Collector(
    name="info",
    summary="the version the server runs now (feeds rocketchat_workspace_info)",
    requests=(Request("info", "/api/info", lambda body, config: parse_info(body)),),
    interval=lambda workspace: workspace.statistics_interval,
    interval_doc="statistics_interval",
    families=INFO_FAMILIES,  # rendered with the workspace's bookkeeping (it has a fallback)
    default_enabled=True,
    permission="view-statistics (for the full version; anyone gets X.Y)",
    versions="all (the full version for a privileged caller since 6.5)",
)
