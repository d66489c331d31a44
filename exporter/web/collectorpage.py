"""The collectors on a workspace's status page: each one's state and the permission it needs,
then each enabled collector's own section (templates/collectors/<name>.html) with the view its
function below makes of the collector's data: plain values, the templates escape them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from exporter.alerts import conditions
from exporter.collecting.registry import COLLECTORS
from exporter.collectors import health, info, instances, licenses, links, omnichannel
from exporter.runtime.state import WorkspaceState
from exporter.web.templating import num, text

Holds = Callable[[str], bool]  # does this alert's condition hold now?
View = dict[str, Any]


def _state(workspace: WorkspaceState, endpoints: tuple[str, ...]) -> tuple[str, str]:
    """(pending | failing | ok, what to say beside it)."""
    statuses = [workspace.status[e] for e in endpoints]
    if not all(s.attempted for s in statuses):
        return "pending", ""
    failing = [e for e, s in zip(endpoints, statuses, strict=True) if not s.ok]
    if failing:
        return "failing", ", ".join(failing)
    return "ok", "; ".join(sorted({s.note for s in statuses if s.note}))


def _support(workspace: WorkspaceState, now: float, holds: Holds) -> View | None:
    """When the official apps stop accepting the version, and the oldest apps the workspace
    accepts (from /api/info, 6.5+)."""
    found = info.latest(workspace)
    if found is None or (found.support_end is None and found.minimum is None):
        return None
    end = found.support_end
    return {
        "end": end,
        "left": None if end is None else (end - now) / 86400,
        "css": "warn" if end is not None and end - now < conditions.SUPPORT_WITHIN else "ok",
        "version": ".".join(str(p) for p in found.major_minor) if found.major_minor else "?",
        "minimum": found.minimum,
    }


def _license(workspace: WorkspaceState, now: float, holds: Holds) -> View:
    found = workspace.get(licenses.INFO)
    return {
        "seats": workspace.get(licenses.MAX_ACTIVE_USERS),
        "ratio": conditions.seats_ratio(workspace),
        "near": holds("RocketChatLicenseSeatsNearLimit"),
        "license": found,
        "blocked": [kind for kind, on in found.prevented if on] if found is not None else [],
    }


def _health(workspace: WorkspaceState, now: float, holds: Holds) -> View:
    hosts = {i.instance_id: f"{i.host}:{i.port}" for i in instances.latest(workspace) or ()}
    checked = workspace.get(health.RESULTS) or ()
    return {"rows": [(hosts.get(r.instance_id, r.instance_id), r) for r in checked]}


def _links(workspace: WorkspaceState, now: float, holds: Holds) -> View:
    """The mesh as a matrix: a row per instance asked, a column per peer; a broken link is
    marked one-way when the peer's own view says it is linked back."""
    mesh = workspace.get(links.MESH)
    if mesh is None or mesh.note:
        return {"mesh": mesh}
    seen = {(v.host, v.port): {(h, p): ok for h, p, ok in v.links} for v in mesh.views}
    peers = sorted({peer for view in seen.values() for peer in view} | set(seen))
    rows = []
    for view in mesh.views:
        me = (view.host, view.port)
        cells = []
        for peer in peers:
            ok = seen[me].get(peer)
            if peer == me:
                cells.append("self")
            elif ok is None:
                cells.append("-")
            elif ok:
                cells.append("linked")
            else:
                cells.append("one-way" if seen.get(peer, {}).get(me) else "none")
        rows.append((f"{view.host}:{view.port}", view.error, cells))
    head = ["asked \\ peer", *(text(f"{h}:{p}") for h, p in peers)]
    return {"mesh": mesh, "head": head, "rows": rows}


def _omnichannel(workspace: WorkspaceState, now: float, holds: Holds) -> View:
    parts = []
    for endpoint in (omnichannel.AGENTS_ENDPOINT, omnichannel.CHATS_ENDPOINT):
        counts = workspace.get(endpoint)
        if counts is not None:
            parts.append(", ".join(f"{k} {num(v)}" for k, v in counts))
    return {"parts": parts, "no_agent": holds("RocketChatOmnichannelNoAgent")}


# each collector's section: the view of its data its template (collectors/<name>.html) shows
SECTIONS: dict[str, Callable[[WorkspaceState, float, Holds], View | None]] = {
    "info": _support,
    "licenses": _license,
    "health": _health,
    "links": _links,
    "omnichannel": _omnichannel,
}


def collectors_context(workspace: WorkspaceState, now: float, holds: Holds) -> dict[str, Any]:
    """What templates/collectors.html needs: the table of collectors, and each enabled one's
    section that has something to show."""
    rows = []
    sections = []
    for name, endpoints in workspace.collectors:
        collector = COLLECTORS[name]
        rows.append((name, *_state(workspace, endpoints), collector.permission, collector.summary))
        make = SECTIONS.get(name)
        view = make(workspace, now, holds) if make is not None else None
        if view is not None:
            sections.append((name, view))
    return {
        "collectors": rows,
        "sections": sections,
        "expiry_within": conditions.EXPIRY_WITHIN,
        "heap_ratio": conditions.HEAP_RATIO,
        "privileged": licenses.PRIVILEGED,
        "no_route": health.NO_ROUTE,
    }
