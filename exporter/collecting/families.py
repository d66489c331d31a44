"""The families of every workspace whatever its collectors: rocketchat_up, the version it runs,
and the exporter's own per-endpoint poll metrics (the bookkeeping part of the exposition)."""

from __future__ import annotations

from exporter.collecting.base import Family

G = "gauge"
UP = Family(
    "rocketchat_up",
    G,
    "1 if the latest polls of the core endpoints (instances.get, statistics.list) succeeded, "
    "else 0; an optional collector never changes it.",
)
WORKSPACE_INFO = Family(
    "rocketchat_workspace_info",
    G,
    "The server version the workspace runs: /api/info's full version (info collector), else "
    "the newest statistics record's.",
    ("workspace", "version"),
)
POLL_DURATION = Family(
    "rocketchat_exporter_poll_duration_seconds",
    G,
    "Duration of the latest poll of the endpoint.",
    ("workspace", "endpoint"),
)
LAST_SUCCESS = Family(
    "rocketchat_exporter_last_success_timestamp_seconds",
    G,
    "End of the latest successful poll of the endpoint, as Unix time.",
    ("workspace", "endpoint"),
)
COLLECTOR_SUCCESS = Family(
    "rocketchat_exporter_collector_success",
    G,
    "1 if the latest poll of every endpoint of the collector succeeded, else 0; an optional "
    "collector failing never changes rocketchat_up.",
    ("workspace", "collector"),
)
POLL_ERRORS = Family(
    "rocketchat_exporter_poll_errors_total",
    "counter",
    "Failed polls of the endpoint, by reason.",
    ("workspace", "endpoint", "reason"),
)
WORKSPACE_FAMILIES = (UP,)  # first in the exposition
EXPORTER_FAMILIES = (POLL_DURATION, LAST_SUCCESS, COLLECTOR_SUCCESS, POLL_ERRORS)  # last
