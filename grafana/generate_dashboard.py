#!/usr/bin/env python3
"""Generates grafana/dashboards/rocketchat.json; run it after changing a panel.

    python grafana/generate_dashboard.py          # rewrite the JSON
    python grafana/generate_dashboard.py --check  # exit 1 if the committed JSON is out of date

Every query filters on `workspace=~"$workspace"` and uses the `${datasource}` variable, so the
dashboard works on any Prometheus that scrapes the exporter.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from collector_panels import collector_rows
from panels import DATASOURCE, INSTANCE_LEGEND, WS, Layout, stat, target, thresholds, timeseries
from record_panels import exporter_extras, instance_extras, statistics_record_row

from exporter.alerts.conditions import STALE_HOURS, STALE_STATISTICS
from exporter.rocketchat.reasons import REASONS, REASONS_DOC

OUTPUT = Path(__file__).parent / "dashboards" / "rocketchat.json"
# the oldest Grafana the dashboard needs, and the dashboard schema that release writes (38:
# Grafana 10.0; newer releases migrate it on load). Table cell options need 10.0.
GRAFANA = "10.0.0"
SCHEMA_VERSION = 38


def instance_table() -> dict[str, Any]:
    """One row per instance record: labels of the info metric joined with its values."""
    sel = "{" + WS + "}"
    queries = [
        (
            "A",
            # the left side carries `version`: match the fallback on the instance's identity,
            # or every instance would be listed twice
            f"rocketchat_instance_info{sel} * on (workspace) group_left (version) "
            f"rocketchat_workspace_info{sel} or on (workspace, instance_id) "
            f"rocketchat_instance_info{sel}",
        ),
        ("B", f"rocketchat_instance_connected{sel}"),
        ("C", f"rocketchat_instance_start_time_seconds{sel} * 1000"),
        ("D", f"rocketchat_instance_cpus{sel}"),
        ("E", f"rocketchat_instance_memory_total_bytes{sel}"),
        ("F", f"rocketchat_instance_connections{sel}"),
    ]
    names = {
        "Value #B": "connected",
        "Value #C": "started",
        "Value #D": "cpus",
        "Value #E": "memory",
        "Value #F": "connections",
    }
    hidden = ["Time", "Value #A", "__name__", "name", "os_platform", "os_release", "pid"]
    return {
        "type": "table",
        "title": "Instances",
        "description": "Every registered server process. connected is the view of the instance "
        "that answered instances.get; a restart briefly shows the old record (disconnected) "
        "next to the new one with the same host:port; 'not reported' on Community Edition and "
        "microservices, whose servers do not report cluster links. version is the workspace's "
        "server version.",
        "datasource": DATASOURCE,
        "targets": [target(expr, ref=ref, format="table", instant=True) for ref, expr in queries],
        "transformations": [
            {"id": "merge", "options": {}},
            {
                "id": "organize",
                "options": {
                    "excludeByName": {name: True for name in hidden},
                    "renameByName": names,
                    "indexByName": {
                        "workspace": 0,
                        "host": 1,
                        "port": 2,
                        "version": 3,
                        "Value #B": 4,
                        "Value #C": 5,
                        "Value #D": 6,
                        "Value #E": 7,
                        "Value #F": 8,
                    },
                },
            },
        ],
        "fieldConfig": {
            "defaults": {"custom": {"align": "auto"}},
            "overrides": [
                {
                    "matcher": {"id": "byName", "options": "connected"},
                    "properties": [
                        {
                            "id": "mappings",
                            "value": [
                                {
                                    "type": "value",
                                    "options": {
                                        "0": {"text": "disconnected", "color": "red"},
                                        "1": {"text": "connected", "color": "green"},
                                    },
                                },
                                {  # Community Edition, microservices: unknown, not down
                                    "type": "special",
                                    "options": {
                                        "match": "null",
                                        "result": {"text": "not reported", "color": "text"},
                                    },
                                },
                            ],
                        },
                        {"id": "custom.cellOptions", "value": {"type": "color-background"}},
                    ],
                },
                {
                    "matcher": {"id": "byName", "options": "started"},
                    "properties": [{"id": "unit", "value": "dateTimeAsIso"}],
                },
                {
                    "matcher": {"id": "byName", "options": "memory"},
                    "properties": [{"id": "unit", "value": "bytes"}],
                },
            ],
        },
        "options": {"showHeader": True, "sortBy": [{"displayName": "workspace", "desc": False}]},
    }


def build() -> dict[str, Any]:
    sel = "{" + WS + "}"
    layout = Layout()

    layout.row("Fleet overview")
    layout.add(
        stat(
            "Workspaces up",
            "Workspaces whose latest polls all succeeded (rocketchat_up), out of those selected.",
            f"sum(rocketchat_up{sel})",
        ),
        w=4,
        h=4,
    )
    layout.add(
        stat(
            "Workspaces down",
            "Workspaces whose latest poll of an endpoint failed; see Exporter health for why.",
            f"count(rocketchat_up{sel} == 0) or vector(0)",
            steps=thresholds((None, "green"), (1, "red")),
        ),
        w=4,
        h=4,
    )
    layout.add(
        stat(
            "Instances",
            "Registered server processes (records of instances.get).",
            f"sum(rocketchat_instances{sel})",
        ),
        w=4,
        h=4,
    )
    layout.add(
        stat(
            "Connected instances",
            "Instances the answering instance holds a live cluster link to (itself included). "
            "Community Edition and microservices do not report links: their instances count "
            "neither here nor as disconnected (rocketchat_workspace_links_reported 0).",
            f"sum(rocketchat_instance_connected{sel})",
        ),
        w=4,
        h=4,
    )
    layout.add(
        stat(
            "Disconnected instances",
            "Registered instances without a live cluster link: crashed processes awaiting "
            "removal, restarts, or peers the answering instance cannot reach.",
            f"count(rocketchat_instance_connected{sel} == 0) or vector(0)",
            steps=thresholds((None, "green"), (1, "orange")),
        ),
        w=4,
        h=4,
    )
    layout.add(
        stat(
            "Oldest statistics",
            "Age of the oldest 'newest statistics record' among the selected workspaces. The "
            f"server writes one about daily; older than {STALE_HOURS} h means its statistics job "
            "is stuck.",
            f"max(time() - rocketchat_workspace_statistics_timestamp_seconds{sel})",
            unit="s",
            steps=thresholds((None, "green"), (STALE_STATISTICS, "red")),
        ),
        w=4,
        h=4,
    )
    layout.add(
        timeseries(
            "Workspace up",
            "1 when every poll of the workspace succeeded, 0 when one failed.",
            [target(f"rocketchat_up{sel}", "{{workspace}}")],
            steps=thresholds((None, "red"), (1, "green")),
        ),
        w=12,
        h=6,
    )
    layout.add(
        timeseries(
            "Exporter poll errors (last hour)",
            "Failed polls in the last hour per workspace and endpoint.",
            [
                target(
                    f"sum by (workspace, endpoint) "
                    f"(increase(rocketchat_exporter_poll_errors_total{sel}[1h])) "
                    f'or label_replace(vector(0), "endpoint", "none", "", "")',
                    "{{workspace}} {{endpoint}}",
                )
            ],
        ),
        w=12,
        h=6,
    )

    layout.row("Instances")
    layout.add(instance_table(), w=24, h=8)
    layout.add(
        timeseries(
            "Websocket connections",
            "Open DDP/websocket sessions per instance (extraInformation.conns, 6.0+; the server "
            "updates it at most every 30 s).",
            [target(f"rocketchat_instance_connections{sel}", INSTANCE_LEGEND)],
        ),
        w=12,
        h=7,
    )
    layout.add(
        timeseries(
            "Load average",
            "Host load averages as captured when the instance registered (process start): a "
            "snapshot, not live.",
            [
                target(f"rocketchat_instance_load1{sel}", INSTANCE_LEGEND + " 1m", "A"),
                target(f"rocketchat_instance_load5{sel}", INSTANCE_LEGEND + " 5m", "B"),
                target(f"rocketchat_instance_load15{sel}", INSTANCE_LEGEND + " 15m", "C"),
            ],
        ),
        w=12,
        h=7,
    )
    layout.add(
        timeseries(
            "Free memory share",
            "Free over total host memory, as captured when the instance registered.",
            [
                target(
                    f"rocketchat_instance_memory_free_bytes{sel} "
                    f"/ rocketchat_instance_memory_total_bytes{sel}",
                    INSTANCE_LEGEND,
                )
            ],
            unit="percentunit",
            steps=thresholds((None, "red"), (0.1, "green")),
            min=0,
            max=1,
        ),
        w=8,
        h=7,
    )
    layout.add(
        timeseries(
            "Host uptime",
            "Uptime of each instance's host (os.uptime at registration).",
            [target(f"rocketchat_instance_host_uptime_seconds{sel}", INSTANCE_LEGEND)],
            unit="s",
        ),
        w=8,
        h=7,
    )
    layout.add(
        timeseries(
            "Connected",
            "Cluster link state per instance record: 1 connected, 0 disconnected.",
            [target(f"rocketchat_instance_connected{sel}", INSTANCE_LEGEND + " {{instance_id}}")],
            steps=thresholds((None, "red"), (1, "green")),
        ),
        w=8,
        h=7,
    )

    instance_extras(layout, sel)

    layout.row("Usage")
    layout.add(
        timeseries(
            "Users by status",
            "Users by presence when the newest statistics record was generated (about daily): "
            "a snapshot, not live presence.",
            [target(f"rocketchat_workspace_users_by_status{sel}", "{{workspace}} {{status}}")],
        ),
        w=8,
        h=7,
    )
    layout.add(
        timeseries(
            "Users",
            "Total and active users (statistics totalUsers, activeUsers).",
            [
                target(f"rocketchat_workspace_users{sel}", "{{workspace}} total", "A"),
                target(f"rocketchat_workspace_active_users{sel}", "{{workspace}} active", "B"),
            ],
        ),
        w=8,
        h=7,
    )
    layout.add(
        timeseries(
            "Rooms by type",
            "Rooms per type (channels, private groups, direct, livechat, discussions).",
            [target(f"rocketchat_workspace_rooms_by_type{sel}", "{{workspace}} {{room_type}}")],
        ),
        w=8,
        h=7,
    )
    layout.add(
        timeseries(
            "Messages by room type",
            "Messages per room type (sums of the rooms' message counters).",
            [
                target(
                    f"rocketchat_workspace_messages_by_room_type{sel}",
                    "{{workspace}} {{room_type}}",
                )
            ],
        ),
        w=8,
        h=7,
    )
    layout.add(
        timeseries(
            "Message growth per day",
            "Change of the message count over the last 24 h, per room type. Statistics records "
            "come about daily, so the curve moves in steps.",
            [
                target(
                    f"delta(rocketchat_workspace_messages_by_room_type{sel}[1d])",
                    "{{workspace}} {{room_type}}",
                )
            ],
        ),
        w=8,
        h=7,
    )
    layout.add(
        timeseries(
            "Uploads size",
            "Total size of uploaded files (statistics uploadsTotalSize).",
            [target(f"rocketchat_workspace_uploads_size_bytes{sel}", "{{workspace}}")],
            unit="bytes",
        ),
        w=8,
        h=7,
    )

    layout.row("Adoption and health")
    apps = "{" + WS + ',state="failed"}'
    layout.add(
        timeseries(
            "Unique users (day / week / month)",
            "Distinct users in the last day, week and month (statistics uniqueUsersOf*): daily, "
            "weekly and monthly active users.",
            [target(f"rocketchat_workspace_unique_users{sel}", "{{workspace}} {{period}}")],
        ),
        w=8,
        h=7,
    )
    layout.add(
        timeseries(
            "Connection peaks",
            "Peak of simultaneous connections of the day and of the month (statistics "
            "dailyPeakConnections, maxMonthlyPeakConnections; 6.5+).",
            [target(f"rocketchat_workspace_connections_peak{sel}", "{{workspace}} {{period}}")],
        ),
        w=8,
        h=7,
    )
    layout.add(
        stat(
            "Apps failed",
            "Installed apps in a failed state in the newest statistics record (alert "
            "RocketChatAppsFailed); 0 also while the apps engine is not ready.",
            f"sum(rocketchat_workspace_apps{apps}) or vector(0)",
            steps=thresholds((None, "green"), (1, "red")),
        ),
        w=4,
        h=7,
    )
    layout.add(
        stat(
            "Migration locked",
            "Workspaces whose statistics show the database migration lock held (alert "
            "RocketChatMigrationLocked after an hour): an upgrade in progress, or stuck.",
            f"sum(rocketchat_workspace_migration_locked{sel}) or vector(0)",
            steps=thresholds((None, "green"), (1, "red")),
        ),
        w=4,
        h=7,
    )
    layout.add(
        timeseries(
            "Apps by state",
            "Installed, enabled and failed apps (statistics apps.*).",
            [target(f"rocketchat_workspace_apps{sel}", "{{workspace}} {{state}}")],
        ),
        w=8,
        h=7,
    )
    layout.add(
        timeseries(
            "Push queue and uncaught exceptions",
            "Push notifications waiting to be sent, and uncaught exceptions of the process that "
            "generated the statistics record.",
            [
                target(f"rocketchat_workspace_push_queue{sel}", "{{workspace}} push queue", "A"),
                target(
                    f"rocketchat_workspace_uncaught_exceptions{sel}",
                    "{{workspace}} uncaught exceptions",
                    "B",
                ),
            ],
        ),
        w=8,
        h=7,
    )
    layout.add(
        timeseries(
            "Threads, teams and E2E rooms",
            "Threads, teams and end-to-end encrypted rooms (statistics totalThreads, "
            "teams.totalTeams, totalE2ERooms).",
            [
                target(f"rocketchat_workspace_threads{sel}", "{{workspace}} threads", "A"),
                target(f"rocketchat_workspace_teams{sel}", "{{workspace}} teams", "B"),
                target(f"rocketchat_workspace_e2e_rooms{sel}", "{{workspace}} E2E rooms", "C"),
            ],
        ),
        w=8,
        h=7,
    )

    statistics_record_row(layout, sel)
    collector_rows(layout, sel)

    layout.row("Exporter health")
    layout.add(
        timeseries(
            "Poll duration",
            "Duration of the latest poll per workspace and endpoint; compare with the timeout.",
            [
                target(
                    f"rocketchat_exporter_poll_duration_seconds{sel}",
                    "{{workspace}} {{endpoint}}",
                )
            ],
            unit="s",
        ),
        w=8,
        h=7,
    )
    layout.add(
        timeseries(
            "Poll errors by reason",
            "Failed polls per second by reason ("
            + ", ".join(f"`{reason}`" for reason in REASONS)
            + f"); `{REASONS_DOC}` says what each means and what to do.",
            [
                target(
                    "sum by (reason) "
                    f"(rate(rocketchat_exporter_poll_errors_total{sel}[$__rate_interval])) "
                    f'or label_replace(vector(0), "reason", "none", "", "")',
                    "{{reason}}",
                )
            ],
            unit="reqps",
        ),
        w=8,
        h=7,
    )
    layout.add(
        timeseries(
            "Time since last successful poll",
            "Seconds since each endpoint of each workspace last answered successfully.",
            [
                target(
                    f"time() - rocketchat_exporter_last_success_timestamp_seconds{sel}",
                    "{{workspace}} {{endpoint}}",
                )
            ],
            unit="s",
        ),
        w=8,
        h=7,
    )

    exporter_extras(layout, sel)

    return {
        # Importing through the UI asks for the Prometheus datasource (`__inputs`); file
        # provisioning ignores these keys and the datasource variable picks the default.
        "__inputs": [
            {
                "name": "DS_PROMETHEUS",
                "label": "Prometheus",
                "description": "The Prometheus that scrapes rocketchat-prometheus-exporter",
                "type": "datasource",
                "pluginId": "prometheus",
                "pluginName": "Prometheus",
            }
        ],
        "__requires": [
            {"type": "grafana", "id": "grafana", "name": "Grafana", "version": GRAFANA},
            {"type": "datasource", "id": "prometheus", "name": "Prometheus", "version": "1.0.0"},
            {"type": "panel", "id": "stat", "name": "Stat", "version": ""},
            {"type": "panel", "id": "table", "name": "Table", "version": ""},
            {"type": "panel", "id": "timeseries", "name": "Time series", "version": ""},
        ],
        "title": "Rocket.Chat",
        "uid": "rocketchat-exporter",
        "description": "Rocket.Chat clusters as seen by rocketchat-prometheus-exporter.",
        "tags": ["rocketchat"],
        "editable": True,
        "schemaVersion": SCHEMA_VERSION,
        "version": 1,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "timezone": "",
        "graphTooltip": 1,
        "annotations": {"list": []},
        "links": [],
        "templating": {
            "list": [
                {
                    "name": "datasource",
                    "label": "Data source",
                    "type": "datasource",
                    "query": "prometheus",
                    "current": {
                        "selected": False,
                        "text": "Prometheus",
                        "value": "${DS_PROMETHEUS}",
                    },
                    "hide": 0,
                    "refresh": 1,
                },
                {
                    "name": "workspace",
                    "label": "Workspace",
                    "type": "query",
                    "datasource": DATASOURCE,
                    "definition": "label_values(rocketchat_up, workspace)",
                    "query": {
                        "query": "label_values(rocketchat_up, workspace)",
                        "refId": "PrometheusVariableQueryEditor-VariableQuery",
                    },
                    "multi": True,
                    "includeAll": True,
                    "allValue": ".*",
                    "current": {},
                    "refresh": 2,
                    "sort": 1,
                    "hide": 0,
                },
            ]
        },
        "panels": layout.panels,
    }


def render() -> str:
    return json.dumps(build(), indent=2) + "\n"


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        if not OUTPUT.exists() or OUTPUT.read_text() != text:
            print(f"{OUTPUT} is out of date: run python grafana/generate_dashboard.py")
            return 1
        return 0
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    OUTPUT.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
