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
    "rocketchat_workspace_links_reported",
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
    # more from the same statistics record (statfields.py)
    "rocketchat_workspace_connections_peak",
    "rocketchat_workspace_unique_users",
    "rocketchat_workspace_deactivated_users",
    "rocketchat_workspace_active_guests",
    "rocketchat_workspace_app_users",
    "rocketchat_workspace_threads",
    "rocketchat_workspace_teams",
    "rocketchat_workspace_e2e_rooms",
    "rocketchat_workspace_e2e_messages",
    "rocketchat_workspace_push_queue",
    "rocketchat_workspace_uncaught_exceptions",
    "rocketchat_workspace_apps",
    "rocketchat_workspace_integrations",
    "rocketchat_workspace_integrations_active",
    "rocketchat_workspace_migration_version",
    "rocketchat_workspace_migration_locked",
    "rocketchat_workspace_last_message_timestamp_seconds",
    "rocketchat_workspace_last_login_timestamp_seconds",
    "rocketchat_workspace_livechat_departments",
    "rocketchat_workspace_livechat_managers",
    "rocketchat_workspace_livechat_rooms_placed_on_hold",
    "rocketchat_workspace_deployment_info",
    "rocketchat_workspace_file_store_info",
    "rocketchat_workspace_statistic",
]
# the optional collectors (exporter/collectors/)
COLLECTOR_METRICS = [
    "rocketchat_license_seats_used",
    "rocketchat_license_seats_max",
    "rocketchat_license_limit",
    "rocketchat_license_usage",
    "rocketchat_license_action_prevented",
    "rocketchat_license_trial",
    "rocketchat_license_module_info",
    "rocketchat_license_expiry_timestamp_seconds",
    "rocketchat_instance_healthy",
    "rocketchat_instance_heap_usage_ratio",
    "rocketchat_instance_event_loop_lag_seconds",
    "rocketchat_instance_database_healthy",
    "rocketchat_instance_link_connected",
    "rocketchat_omnichannel_agents",
    "rocketchat_omnichannel_chats",
    "rocketchat_workspace_version_support_end_timestamp_seconds",
    "rocketchat_workspace_client_minimum_info",
]
EXPORTER_METRICS = [
    "rocketchat_exporter_build_info",
    "rocketchat_exporter_poll_duration_seconds",
    "rocketchat_exporter_last_success_timestamp_seconds",
    "rocketchat_exporter_poll_errors_total",
    "rocketchat_exporter_collector_success",
]
ALL_METRICS = INSTANCE_METRICS + WORKSPACE_METRICS + COLLECTOR_METRICS + EXPORTER_METRICS

# Rendered apart from the families of render.py (only when basic auth is on).
ADDITIONS = [
    "rocketchat_exporter_http_auth_failures_total",
    "rocketchat_exporter_config_reload_failures_total",
]

# Every family the contract names is built now; a name the contract adds for a future issue goes
# here until it is built (the contract test fails until it moves to the lists above).
NOT_YET: set[str] = set()
