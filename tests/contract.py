"""Every metric name of ../shared/CONTRACT.md (dashboards and alerts depend on them)."""

INSTANCE_METRICS = [
    "rocketchat_instance_info",
    "rocketchat_instance_connected",
    "rocketchat_instance_cpus",
    "rocketchat_instance_memory_total_bytes",
    "rocketchat_instance_memory_free_bytes",
    "rocketchat_instance_load1",
    "rocketchat_instance_load5",
    "rocketchat_instance_load15",
    "rocketchat_instance_host_uptime_seconds",
    "rocketchat_instance_connections",
    "rocketchat_instance_start_time_seconds",
    "rocketchat_instance_last_heartbeat_timestamp_seconds",
]
WORKSPACE_METRICS = [
    "rocketchat_up",
    "rocketchat_instances",
    "rocketchat_workspace_info",
    "rocketchat_workspace_users",
    "rocketchat_workspace_active_users",
    "rocketchat_workspace_users_by_status",
    "rocketchat_workspace_rooms",
    "rocketchat_workspace_rooms_by_type",
    "rocketchat_workspace_messages",
    "rocketchat_workspace_messages_by_room_type",
    "rocketchat_workspace_uploads",
    "rocketchat_workspace_uploads_size_bytes",
    "rocketchat_workspace_livechat_visitors",
    "rocketchat_workspace_livechat_agents",
    "rocketchat_workspace_statistics_timestamp_seconds",
]
EXPORTER_METRICS = [
    "rocketchat_exporter_build_info",
    "rocketchat_exporter_poll_duration_seconds",
    "rocketchat_exporter_last_success_timestamp_seconds",
    "rocketchat_exporter_poll_errors_total",
]
ALL_METRICS = INSTANCE_METRICS + WORKSPACE_METRICS + EXPORTER_METRICS

# Additions beyond CONTRACT.md, following its rules (issue: protect /metrics).
ADDITIONS = ["rocketchat_exporter_http_auth_failures_total"]
