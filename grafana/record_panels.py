"""Panels for the rest of what the exporter serves: the statistics record's remaining families,
the instances' heartbeats and links, and the exporter's own collectors, build and HTTP side.
With them every family of /metrics is in a panel (tests/test_dashboard_rules.py checks)."""

from __future__ import annotations

from typing import Any

from panels import DATASOURCE, INSTANCE_LEGEND, Layout, stat, target, thresholds, timeseries


def instance_extras(layout: Layout, sel: str) -> None:
    layout.add(
        timeseries(
            "Heartbeat age",
            "Seconds since each instance last refreshed its record (every 10 s when alive). One "
            "that lags the others by over 30 s has stopped (alert "
            "RocketChatInstanceHeartbeatStale).",
            [
                target(
                    f"time() - rocketchat_instance_last_heartbeat_timestamp_seconds{sel}",
                    INSTANCE_LEGEND,
                )
            ],
            unit="s",
        ),
        w=12,
        h=7,
    )
    layout.add(
        timeseries(
            "Links reported",
            "1 when the workspace's server reports cluster links; 0 on Community Edition and "
            "microservices, whose instances are then 'not reported', not disconnected.",
            [target(f"rocketchat_workspace_links_reported{sel}", "{{workspace}}")],
            min=0,
            max=1,
        ),
        w=12,
        h=7,
    )


def statistics_record_row(layout: Layout, sel: str) -> None:
    layout.row("More from the statistics record")
    layout.add(
        timeseries(
            "Rooms, messages and uploads",
            "Totals of the newest statistics record (totalRooms, totalMessages, uploadsTotal).",
            [
                target(f"rocketchat_workspace_rooms{sel}", "{{workspace}} rooms", "A"),
                target(f"rocketchat_workspace_messages{sel}", "{{workspace}} messages", "B"),
                target(f"rocketchat_workspace_uploads{sel}", "{{workspace}} uploads", "C"),
            ],
        ),
        w=8,
        h=7,
    )
    layout.add(
        timeseries(
            "Deactivated users, active guests, app users",
            "statistics nonActiveUsers, activeGuests and appUsers.",
            [
                target(
                    f"rocketchat_workspace_deactivated_users{sel}", "{{workspace}} deactivated", "A"
                ),
                target(f"rocketchat_workspace_active_guests{sel}", "{{workspace}} guests", "B"),
                target(f"rocketchat_workspace_app_users{sel}", "{{workspace}} app users", "C"),
            ],
        ),
        w=8,
        h=7,
    )
    layout.add(
        timeseries(
            "Encrypted messages",
            "End-to-end encrypted messages (statistics totalEncryptedMessages).",
            [target(f"rocketchat_workspace_e2e_messages{sel}", "{{workspace}}")],
        ),
        w=8,
        h=7,
    )
    layout.add(
        timeseries(
            "Integrations",
            "Incoming and outgoing integrations, all and active (statistics integrations.*).",
            [
                target(f"rocketchat_workspace_integrations{sel}", "{{workspace}} {{type}}", "A"),
                target(
                    f"rocketchat_workspace_integrations_active{sel}",
                    "{{workspace}} {{type}} active",
                    "B",
                ),
            ],
        ),
        w=8,
        h=7,
    )
    layout.add(
        timeseries(
            "Since the last message and login",
            "Seconds between now and the last message sent and the last login the newest "
            "statistics record saw: a workspace nobody uses, or a record that is old.",
            [
                target(
                    f"time() - rocketchat_workspace_last_message_timestamp_seconds{sel}",
                    "{{workspace}} last message",
                    "A",
                ),
                target(
                    f"time() - rocketchat_workspace_last_login_timestamp_seconds{sel}",
                    "{{workspace}} last login",
                    "B",
                ),
            ],
            unit="s",
        ),
        w=8,
        h=7,
    )
    layout.add(
        timeseries(
            "Livechat",
            "Livechat visitors, agents, managers, departments and rooms placed on hold "
            "(statistics totalLivechatVisitors, totalLivechatAgents, totalLivechatManagers, "
            "departments, chatsOnHold).",
            [
                target(
                    f"rocketchat_workspace_livechat_visitors{sel}", "{{workspace}} visitors", "A"
                ),
                target(f"rocketchat_workspace_livechat_agents{sel}", "{{workspace}} agents", "B"),
                target(
                    f"rocketchat_workspace_livechat_managers{sel}", "{{workspace}} managers", "C"
                ),
                target(
                    f"rocketchat_workspace_livechat_departments{sel}",
                    "{{workspace}} departments",
                    "D",
                ),
                target(
                    f"rocketchat_workspace_livechat_rooms_placed_on_hold{sel}",
                    "{{workspace}} on hold",
                    "E",
                ),
            ],
        ),
        w=8,
        h=7,
    )
    layout.add(_deployment_table(sel), w=16, h=6)
    layout.add(
        timeseries(
            "Uploads by file store",
            "Size of the uploads and where they are stored (statistics fileStoreType, 8.x): "
            "GridFS keeps them in MongoDB (alert RocketChatUploadsInGridFS above 5 GiB).",
            [
                target(
                    f"rocketchat_workspace_uploads_size_bytes{sel} * on (workspace) "
                    f"group_left (type) rocketchat_workspace_file_store_info{sel}",
                    "{{workspace}} {{type}}",
                )
            ],
            unit="bytes",
        ),
        w=8,
        h=6,
    )
    layout.add(
        stat(
            "Migration version",
            "The database migration each workspace is at (statistics migration.version): it "
            "moves at upgrades; stuck with the lock held is RocketChatMigrationLocked.",
            f"rocketchat_workspace_migration_version{sel}",
        ),
        w=8,
        h=6,
    )
    layout.add(
        timeseries(
            "Extra statistics",
            "The statistics fields the config's extra_statistics asks for, by path "
            "(rocketchat_workspace_statistic{field}).",
            [target(f"rocketchat_workspace_statistic{sel}", "{{workspace}} {{field}}")],
        ),
        w=24,
        h=6,
    )


def _deployment_table(sel: str) -> dict[str, Any]:
    return {
        "type": "table",
        "title": "Deployment",
        "description": "How each workspace is deployed, from its statistics record: MongoDB "
        "version and engine, oplog, microservices, deployment method and platform.",
        "datasource": DATASOURCE,
        "targets": [
            target(f"rocketchat_workspace_deployment_info{sel}", format="table", instant=True)
        ],
        "transformations": [
            {
                "id": "organize",
                "options": {"excludeByName": {"Time": True, "Value": True, "__name__": True}},
            }
        ],
        "fieldConfig": {"defaults": {"custom": {"align": "auto"}}, "overrides": []},
        "options": {"showHeader": True},
    }


def exporter_extras(layout: Layout, sel: str) -> None:
    layout.add(
        timeseries(
            "Collector success",
            "1 when every request of the collector succeeded at its latest poll, per workspace; "
            "an optional collector at 0 is usually a missing permission (alert "
            "RocketChatCollectorFailing).",
            [
                target(
                    f"rocketchat_exporter_collector_success{sel}",
                    "{{workspace}} {{collector}}",
                )
            ],
            steps=thresholds((None, "red"), (1, "green")),
            min=0,
            max=1,
        ),
        w=8,
        h=7,
    )
    layout.add(
        timeseries(
            "Refused reloads and logins",
            "Config reloads refused (the running config kept), by file, and failed basic-auth "
            "logins to the exporter per second (0 when basic auth is off).",
            [
                target(
                    "increase(rocketchat_exporter_config_reload_failures_total[1h])",
                    "reloads refused: {{config}}",
                    "A",
                ),
                target(
                    "sum(rate(rocketchat_exporter_http_auth_failures_total[$__rate_interval])) "
                    "or vector(0)",
                    "basic-auth failures/s",
                    "B",
                ),
            ],
        ),
        w=8,
        h=7,
    )
    layout.add(
        {
            **stat(
                "Exporter version",
                "The exporter's version and Python (rocketchat_exporter_build_info).",
                "rocketchat_exporter_build_info",
            ),
            "options": {
                "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                "colorMode": "none",
                "graphMode": "none",
                "textMode": "name",
            },
        },
        w=8,
        h=7,
    )
    layout.panels[-1]["targets"][0]["legendFormat"] = "{{version}} (Python {{python_version}})"
