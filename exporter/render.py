"""State -> Prometheus text exposition (format 0.0.4).

Each workspace's samples are rendered into per-family fragments only when its data changed; a
scrape joins the cached fragments family by family (the text format needs each family grouped
under one HELP/TYPE header) and the result, plain and gzipped, is cached until the next change.
"""

from __future__ import annotations

import asyncio
import gzip
import platform
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from . import __version__, statfields
from .parse import Instance, InstancesAnswer, Statistics
from .state import State, WorkspaceState

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


@dataclass(frozen=True)
class Family:
    name: str
    kind: str
    help: str


def _families() -> list[Family]:
    g = "gauge"
    raw = [
        (
            "rocketchat_up",
            g,
            "1 if the latest poll of every enabled endpoint of the workspace succeeded, else 0.",
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
        ("rocketchat_workspace_info", g, "Server version of the newest statistics record."),
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
            "rocketchat_exporter_poll_errors_total",
            "counter",
            "Failed polls of the endpoint, by reason.",
        ),
    ]
    return [Family(name, kind, text) for name, kind, text in raw]


FAMILIES = _families()
_ORDER = [f.name for f in FAMILIES]

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


def escape(value: str) -> str:
    """Label value escaping of the text format: backslash, double quote, newline."""
    if "\\" in value or '"' in value or "\n" in value:
        value = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return value


def fmt(value: float) -> str:
    """Integers without a fraction (exact and compact), everything else as Python's repr."""
    value = float(value)
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


def _instance_lines(ws_label: str, instance: Instance, out: dict[str, list[str]]) -> None:
    labels = (
        f'{ws_label},instance_id="{escape(instance.instance_id)}",'
        f'host="{escape(instance.host)}",port="{escape(instance.port)}"'
    )
    info = (
        f'{labels},name="{escape(instance.name)}",address="{escape(instance.address)}",'
        f'node_version="{escape(instance.node_version)}",pid="{escape(instance.pid)}",'
        f'os_type="{escape(instance.os_type)}",os_platform="{escape(instance.os_platform)}",'
        f'os_arch="{escape(instance.os_arch)}",os_release="{escape(instance.os_release)}"'
    )
    out["rocketchat_instance_info"].append(f"rocketchat_instance_info{{{info}}} 1\n")
    if instance.connected is not None:
        value = "1" if instance.connected else "0"
        out["rocketchat_instance_connected"].append(
            f"rocketchat_instance_connected{{{labels}}} {value}\n"
        )
    for family, getter in INSTANCE_GAUGES:
        number = getter(instance)
        if number is not None:
            out[family].append(f"{family}{{{labels}}} {fmt(number)}\n")


def _statistics_lines(ws_label: str, stats: Statistics, out: dict[str, list[str]]) -> None:
    if stats.version is not None:
        out["rocketchat_workspace_info"].append(
            f'rocketchat_workspace_info{{{ws_label},version="{escape(stats.version)}"}} 1\n'
        )
    for family, extra, attribute in STATISTICS_GAUGES:
        number: float | None = getattr(stats, attribute)
        if number is not None:
            labels = f"{ws_label},{extra}" if extra else ws_label
            out[family].append(f"{family}{{{labels}}} {fmt(number)}\n")
    for sample in stats.more:
        labels = f"{ws_label},{sample.label}" if sample.label else ws_label
        out[sample.family].append(f"{sample.family}{{{labels}}} {fmt(sample.value)}\n")
    if stats.deployment is not None:
        labels = ",".join(f'{k}="{escape(v)}"' for k, v in stats.deployment)
        info = statfields.DEPLOYMENT_INFO
        out[info].append(f"{info}{{{ws_label},{labels}}} 1\n")
    for path, value in stats.extra:
        out[statfields.EXTRA].append(
            f'{statfields.EXTRA}{{{ws_label},field="{escape(path)}"}} {fmt(value)}\n'
        )


def _encoded(out: dict[str, list[str]]) -> dict[str, bytes]:
    # the parsers already escape lone surrogates (see parse.clean); this keeps that promise
    # even for a string that did not pass through them, without merging distinct values
    return {
        name: "".join(lines).encode("utf-8", "backslashreplace")
        for name, lines in out.items()
        if lines
    }


def render_instances(name: str, instances: InstancesAnswer) -> dict[str, bytes]:
    """The instances.get part of a workspace's samples, by family."""
    ws_label = f'workspace="{escape(name)}"'
    out: dict[str, list[str]] = {family: [] for family in _ORDER}
    out["rocketchat_instances"].append(f"rocketchat_instances{{{ws_label}}} {len(instances)}\n")
    out["rocketchat_workspace_links_reported"].append(
        f"rocketchat_workspace_links_reported{{{ws_label}}} {int(instances.links_reported)}\n"
    )
    for instance in instances:
        _instance_lines(ws_label, instance, out)
    return _encoded(out)


def render_statistics(name: str, stats: Statistics) -> dict[str, bytes]:
    """The statistics.list part of a workspace's samples, by family."""
    out: dict[str, list[str]] = {family: [] for family in _ORDER}
    _statistics_lines(f'workspace="{escape(name)}"', stats, out)
    return _encoded(out)


def render_bookkeeping(workspace: WorkspaceState) -> dict[str, bytes]:
    """rocketchat_up and the exporter's poll metrics of a workspace, by family."""
    out: dict[str, list[str]] = {family: [] for family in _ORDER}
    ws_label = f'workspace="{escape(workspace.name)}"'
    up = workspace.up
    if up is not None:
        out["rocketchat_up"].append(f"rocketchat_up{{{ws_label}}} {1 if up else 0}\n")
    for endpoint, status in workspace.status.items():
        labels = f'{ws_label},endpoint="{endpoint}"'
        if status.duration_seconds is not None:
            out["rocketchat_exporter_poll_duration_seconds"].append(
                f"rocketchat_exporter_poll_duration_seconds{{{labels}}} "
                f"{fmt(status.duration_seconds)}\n"
            )
        if status.last_success is not None:
            out["rocketchat_exporter_last_success_timestamp_seconds"].append(
                f"rocketchat_exporter_last_success_timestamp_seconds{{{labels}}} "
                f"{fmt(status.last_success)}\n"
            )
    for (endpoint, reason), count in sorted(workspace.errors.items()):
        out["rocketchat_exporter_poll_errors_total"].append(
            f'rocketchat_exporter_poll_errors_total{{{ws_label},endpoint="{endpoint}",'
            f'reason="{reason}"}} {count}\n'
        )
    return _encoded(out)


_HEADERS = {
    f.name: f"# HELP {f.name} {f.help}\n# TYPE {f.name} {f.kind}\n".encode() for f in FAMILIES
}


def build_info() -> bytes:
    return (
        "# HELP rocketchat_exporter_build_info The exporter's version and Python version.\n"
        "# TYPE rocketchat_exporter_build_info gauge\n"
        f'rocketchat_exporter_build_info{{version="{escape(__version__)}",'
        f'python_version="{escape(platform.python_version())}"}} 1\n'
    ).encode()


_BUILD_INFO = build_info()


def exporter_families(state: State) -> bytes:
    """The exporter's own families that belong to no workspace."""
    text = ""
    if state.auth_failures is not None:
        text += (
            "# HELP rocketchat_exporter_http_auth_failures_total Requests to the exporter's "
            "endpoints refused for missing or wrong basic auth credentials.\n"
            "# TYPE rocketchat_exporter_http_auth_failures_total counter\n"
            f"rocketchat_exporter_http_auth_failures_total {state.auth_failures}\n"
        )
    return _BUILD_INFO + text.encode()


def join_families(fragments: Iterable[dict[str, bytes]], head: bytes) -> list[bytes]:
    """The parts of the exposition: `head` (the exporter's own families), then per-workspace
    fragments grouped family by family, each family under one header (the text format
    requires a family's samples to be contiguous)."""
    fragment_list = list(fragments)
    parts = [head]
    for name in _ORDER:
        samples = [f[name] for f in fragment_list if name in f]
        if samples:
            parts.append(_HEADERS[name])
            parts.extend(samples)
    return parts


@dataclass
class _DataParts:
    """A workspace's rendered data, kept while the parsed objects they came from are current."""

    instances: InstancesAnswer | None = None
    instance_samples: dict[str, bytes] = field(default_factory=dict)
    statistics: Statistics | None = None
    statistics_samples: dict[str, bytes] = field(default_factory=dict)


class Renderer:
    """Renders each workspace only when its data changed (by version), and the exposition only
    when anything changed (by the state's generation)."""

    def __init__(self, state: State) -> None:
        self.state = state
        self._fragments: dict[str, tuple[WorkspaceState, int, dict[str, bytes]]] = {}
        self._parts: dict[str, _DataParts] = {}
        self._generation = -1
        self._plain = b""
        self._gzip: bytes | None = None
        self.last_render_seconds = 0.0  # work of the last snapshot_async, without its pauses

    def _current(self, name: str, workspace: WorkspaceState) -> dict[str, bytes] | None:
        """The cached samples of the workspace, if nothing changed since they were rendered."""
        cached = self._fragments.get(name)
        if cached is not None and cached[0] is workspace and cached[1] == workspace.version:
            return cached[2]
        return None

    def _render(self, name: str, workspace: WorkspaceState) -> dict[str, bytes]:
        """The workspace's samples; the instances and statistics parts are re-rendered only
        when a poll brought new data for them, the small bookkeeping part at every change."""
        parts = self._parts.setdefault(name, _DataParts())
        if parts.instances is not workspace.instances:
            parts.instances = workspace.instances
            parts.instance_samples = (
                {} if workspace.instances is None else render_instances(name, workspace.instances)
            )
        if parts.statistics is not workspace.statistics:
            parts.statistics = workspace.statistics
            parts.statistics_samples = (
                {}
                if workspace.statistics is None
                else render_statistics(name, workspace.statistics)
            )
        fragment = {
            **parts.instance_samples,
            **parts.statistics_samples,
            **render_bookkeeping(workspace),
        }
        self._fragments[name] = (workspace, workspace.version, fragment)
        return fragment

    def _parts_for(self, fragments: list[dict[str, bytes]]) -> list[bytes]:
        if len(self._fragments) > len(self.state.workspaces):  # workspaces were removed
            for name in set(self._fragments) - set(self.state.workspaces):
                del self._fragments[name]
                self._parts.pop(name, None)
        return join_families(fragments, exporter_families(self.state))

    def snapshot(self) -> tuple[int, list[bytes]]:
        """The state's generation and the exposition parts for it (cheap: no big copies)."""
        fragments = []
        for name, workspace in self.state.workspaces.items():
            fragment = self._current(name, workspace)
            fragments.append(self._render(name, workspace) if fragment is None else fragment)
        return self.state.generation, self._parts_for(fragments)

    async def snapshot_async(self, batch: int = 20) -> tuple[int, list[bytes]]:
        """Like snapshot, yielding to the event loop every `batch` re-rendered workspaces so
        that scrapes and polls never wait for a whole fleet to be rendered. Changes made
        meanwhile may or may not be included; the generation returned is the one before them,
        so the next render picks them up."""
        generation = self.state.generation
        fragments = []
        rendered = 0
        spent, segment = 0.0, time.perf_counter()
        for name, workspace in list(self.state.workspaces.items()):
            fragment = self._current(name, workspace)
            if fragment is None:
                fragment = self._render(name, workspace)
                rendered += 1
                if rendered % batch == 0:
                    spent += time.perf_counter() - segment
                    await asyncio.sleep(0)
                    segment = time.perf_counter()
            fragments.append(fragment)
        parts = self._parts_for(fragments)
        self.last_render_seconds = spent + time.perf_counter() - segment
        return generation, parts

    def plain(self) -> bytes:
        """The current exposition, rendered now if anything changed."""
        if self._generation != self.state.generation:
            self._generation, parts = self.snapshot()
            self._plain = b"".join(parts)
            self._gzip = None
        return self._plain

    def gzipped(self) -> bytes:
        plain = self.plain()
        if self._gzip is None:
            self._gzip = gzip.compress(plain, compresslevel=1)
        return self._gzip
