"""The core metric families (instances.get, statistics.list, the workspace's bookkeeping and the
exporter's own): name, type, help, labels; and which field of a parsed record feeds which family.
The optional collectors declare theirs in their own modules; registry.FAMILIES is all of them
in exposition order."""

from __future__ import annotations

from collections.abc import Callable

from exporter.collectors import statfields
from exporter.collectors.base import Family
from exporter.collectors.records import Instance

W = ("workspace",)
INSTANCE = ("workspace", "instance_id", "host", "port")
_LABELS: dict[str, tuple[str, ...]] = {
    "rocketchat_instance_info": (
        *INSTANCE, "name", "address", "node_version", "pid",
        "os_type", "os_platform", "os_arch", "os_release",
    ),
    "rocketchat_workspace_info": (*W, "version"),
    "rocketchat_workspace_users_by_status": (*W, "status"),
    "rocketchat_workspace_rooms_by_type": (*W, "room_type"),
    "rocketchat_workspace_messages_by_room_type": (*W, "room_type"),
    statfields.DEPLOYMENT_INFO: (*W, *(label for label, _ in statfields.DEPLOYMENT_LABELS)),
    statfields.EXTRA: (*W, "field"),
    statfields.FILE_STORE_INFO: (*W, "type"),
    "rocketchat_exporter_poll_duration_seconds": (*W, "endpoint"),
    "rocketchat_exporter_last_success_timestamp_seconds": (*W, "endpoint"),
    "rocketchat_exporter_collector_success": (*W, "collector"),
    "rocketchat_exporter_poll_errors_total": (*W, "endpoint", "reason"),
    **{f.family: (*W, f.label) for f in statfields.FIELDS if f.label},
}  # fmt: skip


def _labels(name: str) -> tuple[str, ...]:
    if name in _LABELS:
        return _LABELS[name]
    return INSTANCE if name.startswith("rocketchat_instance_") else W


def _families() -> list[Family]:
    g = "gauge"
    raw = [
        (
            "rocketchat_up",
            g,
            "1 if the latest polls of the core endpoints (instances.get, statistics.list) "
            "succeeded, else 0; an optional collector never changes it.",
        ),
        ("rocketchat_instances", g, "Number of records in the latest instances.get answer."),
        (
            "rocketchat_workspace_links_reported",
            g,
            "1 if the latest instances.get answer reported intra-cluster links (shape A, or "
            "shape B with a local item); 0: Community Edition or microservices, where "
            "rocketchat_instance_connected is unknown and therefore absent.",
        ),
        (
            "rocketchat_instance_info",
            g,
            "Rocket.Chat server process registered in the instances "
            "collection (labels from the record; address as seen by the answering instance).",
        ),
        (
            "rocketchat_instance_connected",
            g,
            "1 if the answering instance holds a live intra-cluster link to this instance "
            "(currentStatus.connected; 1 for the answering instance); absent when the server "
            "does not report links (rocketchat_workspace_links_reported 0).",
        ),
        (
            "rocketchat_instance_cpus",
            g,
            "CPU count of the instance's host (os.cpus, captured when the instance registered).",
        ),
        (
            "rocketchat_instance_memory_total_bytes",
            g,
            "Total memory of the instance's host "
            "(os.totalmem, captured when the instance registered).",
        ),
        (
            "rocketchat_instance_memory_free_bytes",
            g,
            "Free memory of the instance's host "
            "(os.freemem, captured when the instance registered, not live).",
        ),
        (
            "rocketchat_instance_load1",
            g,
            "1-minute load average of the instance's host "
            "(os.loadavg[0], captured when the instance registered, not live).",
        ),
        (
            "rocketchat_instance_load5",
            g,
            "5-minute load average of the instance's host "
            "(os.loadavg[1], captured when the instance registered, not live).",
        ),
        (
            "rocketchat_instance_load15",
            g,
            "15-minute load average of the instance's host "
            "(os.loadavg[2], captured when the instance registered, not live).",
        ),
        (
            "rocketchat_instance_host_uptime_seconds",
            g,
            "Uptime of the instance's host (os.uptime, captured when the instance registered).",
        ),
        (
            "rocketchat_instance_connections",
            g,
            "Open DDP/websocket sessions on the instance "
            "(extraInformation.conns, updated by the server at most every 30 s).",
        ),
        (
            "rocketchat_instance_start_time_seconds",
            g,
            "When the instance registered, i.e. its process start (_createdAt), as Unix time.",
        ),
        (
            "rocketchat_instance_last_heartbeat_timestamp_seconds",
            g,
            "Last heartbeat of the "
            "instance record (_updatedAt, refreshed every 10 s by a live instance), as Unix time.",
        ),
        (
            "rocketchat_workspace_info",
            g,
            "The server version the workspace runs: /api/info's full version (info collector), "
            "else the newest statistics record's.",
        ),
        ("rocketchat_workspace_users", g, "Total users (statistics totalUsers)."),
        ("rocketchat_workspace_active_users", g, "Active users (statistics activeUsers)."),
        (
            "rocketchat_workspace_users_by_status",
            g,
            "Users by presence status when the "
            "statistics record was generated (onlineUsers, awayUsers, busyUsers, offlineUsers).",
        ),
        ("rocketchat_workspace_rooms", g, "Total rooms (statistics totalRooms)."),
        (
            "rocketchat_workspace_rooms_by_type",
            g,
            "Rooms by type (statistics totalChannels, "
            "totalPrivateGroups, totalDirect, totalLivechat, totalDiscussions).",
        ),
        (
            "rocketchat_workspace_messages",
            g,
            "Total messages (statistics totalMessages, sum of the rooms' message counters).",
        ),
        (
            "rocketchat_workspace_messages_by_room_type",
            g,
            "Messages by room type (statistics total*Messages).",
        ),
        ("rocketchat_workspace_uploads", g, "Uploaded files (statistics uploadsTotal)."),
        (
            "rocketchat_workspace_uploads_size_bytes",
            g,
            "Total size of uploaded files (statistics uploadsTotalSize).",
        ),
        (
            "rocketchat_workspace_livechat_visitors",
            g,
            "Omnichannel visitors (statistics totalLivechatVisitors).",
        ),
        (
            "rocketchat_workspace_livechat_agents",
            g,
            "Omnichannel agents (statistics totalLivechatAgents).",
        ),
        (
            "rocketchat_workspace_statistics_timestamp_seconds",
            g,
            "When the newest statistics "
            "record was generated (createdAt), as Unix time; the server writes one about daily.",
        ),
        *((f.family, g, f.help) for f in statfields.FIELDS),
        (statfields.DEPLOYMENT_INFO, g, statfields.DEPLOYMENT_HELP),
        (statfields.FILE_STORE_INFO, g, statfields.FILE_STORE_HELP),
        (statfields.EXTRA, g, statfields.EXTRA_HELP),
        (
            "rocketchat_exporter_poll_duration_seconds",
            g,
            "Duration of the latest poll of the endpoint.",
        ),
        (
            "rocketchat_exporter_last_success_timestamp_seconds",
            g,
            "End of the latest successful poll of the endpoint, as Unix time.",
        ),
        (
            "rocketchat_exporter_collector_success",
            g,
            "1 if the latest poll of every endpoint of the collector succeeded, else 0; an "
            "optional collector failing never changes rocketchat_up.",
        ),
        (
            "rocketchat_exporter_poll_errors_total",
            "counter",
            "Failed polls of the endpoint, by reason.",
        ),
    ]
    return [Family(name, kind, text, _labels(name)) for name, kind, text in raw]


_ALL = {f.name: f for f in _families()}


def _group(first: str, last: str) -> tuple[Family, ...]:
    names = list(_ALL)
    return tuple(_ALL[n] for n in names[names.index(first) : names.index(last) + 1])


WORKSPACE_FAMILIES = _group("rocketchat_up", "rocketchat_up")
INSTANCES_FAMILIES = _group(
    "rocketchat_instances", "rocketchat_instance_last_heartbeat_timestamp_seconds"
)
INFO_FAMILIES = _group("rocketchat_workspace_info", "rocketchat_workspace_info")
STATISTICS_FAMILIES = _group("rocketchat_workspace_users", statfields.EXTRA)
EXPORTER_FAMILIES = _group(
    "rocketchat_exporter_poll_duration_seconds", "rocketchat_exporter_poll_errors_total"
)

INSTANCE_GAUGES: list[tuple[str, Callable[[Instance], float | None]]] = [
    ("rocketchat_instance_cpus", lambda i: i.cpus),
    ("rocketchat_instance_memory_total_bytes", lambda i: i.memory_total_bytes),
    ("rocketchat_instance_memory_free_bytes", lambda i: i.memory_free_bytes),
    ("rocketchat_instance_load1", lambda i: i.load1),
    ("rocketchat_instance_load5", lambda i: i.load5),
    ("rocketchat_instance_load15", lambda i: i.load15),
    ("rocketchat_instance_host_uptime_seconds", lambda i: i.host_uptime_seconds),
    ("rocketchat_instance_connections", lambda i: i.connections),
    ("rocketchat_instance_start_time_seconds", lambda i: i.start_time_seconds),
    ("rocketchat_instance_last_heartbeat_timestamp_seconds", lambda i: i.last_heartbeat_seconds),
]

# (family, extra label, field of Statistics)
STATISTICS_GAUGES: list[tuple[str, str, str]] = [
    ("rocketchat_workspace_users", "", "users"),
    ("rocketchat_workspace_active_users", "", "active_users"),
    ("rocketchat_workspace_users_by_status", 'status="online"', "users_online"),
    ("rocketchat_workspace_users_by_status", 'status="away"', "users_away"),
    ("rocketchat_workspace_users_by_status", 'status="busy"', "users_busy"),
    ("rocketchat_workspace_users_by_status", 'status="offline"', "users_offline"),
    ("rocketchat_workspace_rooms", "", "rooms"),
    ("rocketchat_workspace_rooms_by_type", 'room_type="channel"', "rooms_channel"),
    ("rocketchat_workspace_rooms_by_type", 'room_type="private_group"', "rooms_private_group"),
    ("rocketchat_workspace_rooms_by_type", 'room_type="direct"', "rooms_direct"),
    ("rocketchat_workspace_rooms_by_type", 'room_type="livechat"', "rooms_livechat"),
    ("rocketchat_workspace_rooms_by_type", 'room_type="discussion"', "rooms_discussion"),
    ("rocketchat_workspace_messages", "", "messages"),
    ("rocketchat_workspace_messages_by_room_type", 'room_type="channel"', "messages_channel"),
    (
        "rocketchat_workspace_messages_by_room_type",
        'room_type="private_group"',
        "messages_private_group",
    ),
    ("rocketchat_workspace_messages_by_room_type", 'room_type="direct"', "messages_direct"),
    ("rocketchat_workspace_messages_by_room_type", 'room_type="livechat"', "messages_livechat"),
    (
        "rocketchat_workspace_messages_by_room_type",
        'room_type="discussion"',
        "messages_discussion",
    ),
    ("rocketchat_workspace_uploads", "", "uploads"),
    ("rocketchat_workspace_uploads_size_bytes", "", "uploads_size_bytes"),
    ("rocketchat_workspace_livechat_visitors", "", "livechat_visitors"),
    ("rocketchat_workspace_livechat_agents", "", "livechat_agents"),
    ("rocketchat_workspace_statistics_timestamp_seconds", "", "created_at"),
]
