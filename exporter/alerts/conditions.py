"""Each alert's condition evaluated on the exporter's current data, before any `for:`.

The alert rules say the same in PromQL (catalogue.py puts the two side by side); the status
pages use these to name the alerts whose condition holds now. Each check returns the subjects
it holds for: instances as "host:port", license kinds, collectors; ("",) for the workspace as a
whole; () when it does not hold. The thresholds are shared with the rules' text.
"""

from __future__ import annotations

from collections.abc import Iterator

from exporter.collecting import statfields
from exporter.collectors import health, info, instances, licenses, links, omnichannel, statistics
from exporter.collectors.instances import VANISHED_MEMORY, Instance
from exporter.collectors.statistics import Statistics
from exporter.runtime.state import WorkspaceState

Subjects = tuple[str, ...]
WHOLE: Subjects = ("",)

DISCONNECTED_FOR = "2m"
HEARTBEAT_LAG = 30  # seconds behind the workspace's freshest heartbeat (pings every 10 s)
STALE_HOURS = 26  # the server writes a statistics record about once a day
STALE_STATISTICS = STALE_HOURS * 3600
SEATS_RATIO = 0.9
EXPIRY_DAYS = 14
EXPIRY_WITHIN = EXPIRY_DAYS * 86400
HEAP_RATIO = 0.9
GRIDFS_GIB = 5  # uploads kept in MongoDB beyond this: see the runbook of the alert
GRIDFS_BYTES = GRIDFS_GIB * 1024**3
SUPPORT_DAYS = 30  # the apps stop accepting the version within this many days
SUPPORT_WITHIN = SUPPORT_DAYS * 86400
PRESENCE_CAP = 200  # connections above which a server without the modules turns presence off
PRESENCE_NEAR = 180  # of that cap
PRESENCE_MODULES = ("unlimited-presence", "scalability")


def endpoint(instance: Instance) -> str:
    return f"{instance.host}:{instance.port}"


def _items(workspace: WorkspaceState) -> tuple[Instance, ...]:
    answer = workspace.get(instances.ANSWER)
    return answer.items if answer is not None else ()


def _license(workspace: WorkspaceState) -> licenses.License | None:
    return workspace.get(licenses.INFO)


def stat(record: Statistics | None, family: str, label: str = "") -> float | None:
    """One value of the statistics record (statfields' families), None when absent."""
    return record.value(family, label) if record is not None else None


def disconnected(workspace: WorkspaceState, now: float) -> Subjects:
    """Links reported, this record not connected, and no record of the same host:port
    connected (a restart lists the old record disconnected beside the new one). A workspace
    whose license lists modules but not scalability does not link its peers."""
    items = _items(workspace)
    known = _license(workspace)
    if known is not None and known.modules and "scalability" not in known.modules:
        return ()  # as the rule: only a workspace with some rocketchat_license_module_info
    up = {endpoint(i) for i in items if i.connected}
    return tuple(sorted({endpoint(i) for i in items if i.connected is False} - up))


def link_views(workspace: WorkspaceState) -> tuple[links.View, ...]:
    mesh = workspace.get(links.MESH)
    return mesh.views if mesh is not None else ()


def link_broken(workspace: WorkspaceState, now: float) -> Subjects:
    """Each pair (asking -> peer) whose asking instance says it holds no link to the peer."""
    return tuple(
        sorted(
            f"{view.host}:{view.port} -> {peer_host}:{peer_port}"
            for view in link_views(workspace)
            for peer_host, peer_port, connected in view.links
            if not connected
        )
    )


def heartbeat_stale(workspace: WorkspaceState, now: float) -> Subjects:
    beats = [(i, i.last_heartbeat_seconds) for i in _items(workspace)]
    newest = max((b for _, b in beats if b is not None), default=None)
    if newest is None:
        return ()
    return tuple(
        sorted({endpoint(i) for i, b in beats if b is not None and newest - b > HEARTBEAT_LAG})
    )


def vanished(workspace: WorkspaceState, now: float) -> Subjects:
    if workspace.up is not True:
        return ()
    return tuple(
        sorted(
            hp for hp, seen in instances.vanished(workspace).items() if now - seen < VANISHED_MEMORY
        )
    )


def down(workspace: WorkspaceState, now: float) -> Subjects:
    return WHOLE if workspace.up is False else ()


def statistics_stale(workspace: WorkspaceState, now: float) -> Subjects:
    stats = workspace.get(statistics.RECORD)
    created = stats.created_at if stats is not None else None
    return WHOLE if created is not None and now - created > STALE_STATISTICS else ()


def apps_failed(workspace: WorkspaceState, now: float) -> Subjects:
    failed = stat(workspace.get(statistics.RECORD), "rocketchat_workspace_apps", "failed")
    return WHOLE if failed is not None and failed > 0 else ()


def migration_locked(workspace: WorkspaceState, now: float) -> Subjects:
    locked = stat(workspace.get(statistics.RECORD), "rocketchat_workspace_migration_locked")
    return WHOLE if locked == 1 else ()


def uploads_in_gridfs(workspace: WorkspaceState, now: float) -> Subjects:
    stats = workspace.get(statistics.RECORD)
    if stats is None or stats.file_store != "GridFS":
        return ()
    size = stats.value(statfields.UPLOADS_SIZE)
    return WHOLE if size is not None and size > GRIDFS_BYTES else ()


def seats_ratio(workspace: WorkspaceState) -> float | None:
    seats = workspace.get(licenses.MAX_ACTIVE_USERS)
    if seats is None or seats.used is None or not seats.max:
        return None
    return seats.used / seats.max


def seats_near_limit(workspace: WorkspaceState, now: float) -> Subjects:
    ratio = seats_ratio(workspace)
    return WHOLE if ratio is not None and ratio > SEATS_RATIO else ()


def license_expiring(workspace: WorkspaceState, now: float) -> Subjects:
    known = _license(workspace)
    expiry = known.expiry if known is not None else None
    return WHOLE if expiry is not None and expiry - now < EXPIRY_WITHIN else ()


def support_end(workspace: WorkspaceState) -> float | None:
    """When the apps stop accepting the workspace's version (the info collector), if known."""
    latest = info.latest(workspace)
    return latest.support_end if latest is not None else None


def support_ending(workspace: WorkspaceState, now: float) -> Subjects:
    end = support_end(workspace)
    return WHOLE if end is not None and 0 <= end - now < SUPPORT_WITHIN else ()


def support_ended(workspace: WorkspaceState, now: float) -> Subjects:
    end = support_end(workspace)
    return WHOLE if end is not None and end - now < 0 else ()


def action_prevented(workspace: WorkspaceState, now: float) -> Subjects:
    known = _license(workspace)
    return tuple(kind for kind, blocked in known.prevented if blocked) if known else ()


def instance_health(workspace: WorkspaceState) -> Iterator[tuple[Instance, health.Health]]:
    """Each instance of the current answer with its latest health answer (as rendered)."""
    return health.by_instance(workspace)


def unhealthy(workspace: WorkspaceState, now: float) -> Subjects:
    return tuple(sorted({endpoint(i) for i, h in instance_health(workspace) if not h.healthy}))


def heap_high(workspace: WorkspaceState, now: float) -> Subjects:
    return tuple(
        sorted(
            endpoint(i)
            for i, h in instance_health(workspace)
            if h.heap_ratio is not None and h.heap_ratio > HEAP_RATIO
        )
    )


def connections(workspace: WorkspaceState) -> float | None:
    counts = [i.connections for i in _items(workspace) if i.connections is not None]
    return sum(counts) if counts else None


def presence_cap_near(workspace: WorkspaceState, now: float) -> Subjects:
    total = connections(workspace)
    known = _license(workspace)
    if known is not None and set(PRESENCE_MODULES) & set(known.modules):
        return ()
    return WHOLE if total is not None and total > PRESENCE_NEAR else ()


def collector_failing(workspace: WorkspaceState, now: float) -> Subjects:
    if workspace.up is False:  # every collector fails: the down alert says it once
        return ()
    return tuple(name for name, ok in workspace.collector_success() if not ok)


def no_agent(workspace: WorkspaceState, now: float) -> Subjects:
    agents = dict(workspace.get(omnichannel.AGENTS_ENDPOINT) or ())
    chats = dict(workspace.get(omnichannel.CHATS_ENDPOINT) or ())
    queued, available = chats.get("queued"), agents.get("available")
    return WHOLE if queued and available == 0 else ()


def never(workspace: WorkspaceState, now: float) -> Subjects:
    """An alert about the exporter itself: a page it serves cannot show it."""
    return ()
