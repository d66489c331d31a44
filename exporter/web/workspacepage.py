"""One workspace's status page at /workspace/<name>: the alerts whose condition holds now with
what to do, its instances, statistics, endpoints and collectors. The numbers that trip an alert
are coloured (templates/workspace_main.html: every value escaped by the template, a server's
strings isolated by `text`)."""

from __future__ import annotations

import time
import urllib.parse
from typing import Any

from exporter.alerts import conditions
from exporter.collecting import statfields as f
from exporter.collectors import instances, statistics
from exporter.rocketchat.reasons import what_to_do
from exporter.runtime.state import LOGIN, WorkspaceState
from exporter.web.collectorpage import collectors_context
from exporter.web.templating import num, page, render
from exporter.web.verdict import health

DISCONNECTED = "RocketChatInstanceDisconnected"
HEARTBEAT = "RocketChatInstanceHeartbeatStale"
# connected false that the disconnect alert does not count (see conditions.disconnected)
QUIET_DISCONNECT = "not connected (a newer record of it is, or this license links no peers)"


def workspace_main(workspace: WorkspaceState, now: float) -> str:
    return render("workspace_main.html", **_context(workspace, now))


def _context(workspace: WorkspaceState, now: float) -> dict[str, Any]:
    h = health(workspace, now)
    answer = instances.latest(workspace)
    stats = statistics.latest(workspace)
    numbers = []
    if stats is not None:
        by_status = (
            stats.value(f.USERS_BY_STATUS, s) for s in ("online", "away", "busy", "offline")
        )
        numbers = [
            ("users (active)", f"{num(stats.value(f.USERS))} ({num(stats.value(f.ACTIVE_USERS))})"),
            ("online / away / busy / offline", " / ".join(num(v) for v in by_status)),
            ("rooms", num(stats.value(f.ROOMS))),
            ("messages", num(stats.value(f.MESSAGES))),
            (
                "uploads",
                f"{num(stats.value(f.UPLOADS))} ({num(stats.value(f.UPLOADS_SIZE), 'bytes')})",
            ),
        ]
    endpoints = []
    for endpoint in (*workspace.endpoints, *workspace.optional, LOGIN):
        status = workspace.status[endpoint]
        if endpoint == LOGIN and not status.attempted:
            continue
        todo = "" if status.ok or not status.attempted else what_to_do(status.last_reason)
        endpoints.append((endpoint, status, todo))
    return {
        "ws": workspace,
        "h": h,
        "label": {"up": "up", "down": "DOWN", "pending": "pending"}[h.state],
        "now": now,
        "rows": answer.items if answer is not None else (),
        "links_reported": answer is not None and answer.links_reported,
        "disconnected": h.subjects(DISCONNECTED),
        "stale_beats": h.subjects(HEARTBEAT),
        "quiet_disconnect": QUIET_DISCONNECT,
        "total": conditions.connections(workspace),
        "near": h.holds("RocketChatPresenceCapNear"),
        "cap": conditions.PRESENCE_CAP,
        "stats": stats,
        "numbers": numbers,
        "endpoints": endpoints,
        **collectors_context(workspace, now, h.holds),
    }


def workspace_page(workspace: WorkspaceState) -> bytes:
    return page(
        "workspace.html",
        title=f"{workspace.name} - Rocket.Chat exporter",
        refresh="/workspace/" + urllib.parse.quote(workspace.name, safe="") + "?fragment=1",
        **_context(workspace, time.time()),
    )
