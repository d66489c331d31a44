"""The fleet overview at /: one chip per state and per alert whose condition holds somewhere,
one row per workspace (the unhealthy first) naming its alerts (templates/fleet.html; every
value escaped by the template, a server's strings isolated by `text`)."""

from __future__ import annotations

import time
import urllib.parse
from collections import Counter
from typing import Any

from exporter.alerts import conditions
from exporter.alerts.catalogue import ALERTS
from exporter.collectors import instances, statistics
from exporter.runtime.state import State, WorkspaceState
from exporter.web.templating import age, page, render
from exporter.web.verdict import STATES, Judged, Verdict, judge, wanted_filter

# the fleet page lists at most this many workspaces (the unhealthy first): a page of 10 000 rows
# is megabytes that a browser's refresh would make the event loop render again and again
MAX_ROWS = 500


def fleet_main(
    state: State, query: str, wanted: str, now: float, judged: Judged | None = None
) -> str:
    return render("fleet_main.html", **_fleet(state, query, wanted, now, judged))


def _fleet(
    state: State, query: str, wanted: str, now: float, judged: Judged | None
) -> dict[str, Any]:
    totals = {"up": 0, "down": 0, "pending": 0}
    connected = unreported = 0
    alerting: Counter[str] = Counter()
    needle = query.casefold()
    shown = []
    for name, workspace, h in judge(state, now) if judged is None else judged:
        totals[h.state] += 1
        connected += h.connected
        unreported += 1 if h.unreported else 0  # workspaces, as its filter shows
        alerting.update(alert.name for alert, _ in h.findings)
        if h.matches(wanted) and needle in name.casefold():
            shown.append((h.rank, name, workspace, h))
    shown.sort(key=lambda item: (item[0], item[1]))
    total = sum(totals.values())
    filtered = f"{len(shown)} of {total} shown" if len(shown) != total else ""
    if len(shown) > MAX_ROWS:
        filtered = (
            f"the first {MAX_ROWS} of {len(shown)} listed (the unhealthy first); narrow them "
            "with the filter"
        )
    return {
        "filters": [
            (len(state.workspaces), "", "workspaces", ""),
            (totals["up"], "up", "up", "ok"),
            (totals["down"], "down", "down", "bad"),
            (totals["pending"], "pending", "pending", "warn"),
            (connected, "", "instances connected", ""),
            (unreported, "unreported", "links not reported", ""),
        ],
        # in the alerts table's order, only those that hold somewhere
        "alerting": [(a, alerting[a.name]) for a in ALERTS if alerting[a.name]],
        "filtered": filtered,
        "rows": [_row(name, workspace, h, now) for _, name, workspace, h in shown[:MAX_ROWS]],
        "now": now,
    }


def _row(name: str, workspace: WorkspaceState, h: Verdict, now: float) -> dict[str, Any]:
    if instances.latest(workspace) is None:
        listed = "-"
    elif h.unreported:
        listed = f"{h.instances} instance(s); links not reported by this server"
    else:
        listed = f"{h.connected}/{h.instances} connected"
    end = conditions.support_end(workspace)
    support = ""
    if end is not None and h.holds("RocketChatVersionSupportEnded"):
        support = "ended"
    elif end is not None and h.holds("RocketChatVersionSupportEndingSoon"):
        support = f"{(end - now) / 86400:.0f}"
    stats = statistics.latest(workspace)
    created = stats.created_at if stats is not None else None
    last = [workspace.status[e].last_poll_end for e in workspace.endpoints]
    return {
        "name": name,
        "href": "/workspace/" + urllib.parse.quote(name, safe=""),
        "state": h.state,
        "label": {"up": "up", "down": "DOWN", "pending": "pending"}[h.state],
        "findings": h.findings,
        "listed": listed,
        "version": workspace.running_version or "-",  # as rocketchat_workspace_info says
        "support": support,
        "age": "-" if created is None else age(now - created),
        "stale": h.holds("RocketChatStatisticsStale"),
        "polled": max((t for t in last if t is not None), default=None),
        "errors": _errors(workspace, h),
    }


def _errors(workspace: WorkspaceState, h: Verdict) -> list[tuple[str, list[str], str]]:
    """Each distinct failure once (a server that is down fails every endpoint the same way),
    naming the endpoints it hit."""
    by_reason: dict[str, list[str]] = {}
    for endpoint in h.failing:
        by_reason.setdefault(workspace.status[endpoint].last_reason, []).append(endpoint)
    return [
        (reason, endpoints, workspace.status[endpoints[0]].last_error)
        for reason, endpoints in by_reason.items()
    ]


def fleet_page(
    state: State, query: str, wanted: str, now: float | None = None, judged: Judged | None = None
) -> bytes:
    wanted = wanted_filter(wanted)
    now = time.time() if now is None else now
    return page(
        "fleet.html",
        title="Rocket.Chat exporter",
        refresh="/?" + urllib.parse.urlencode({"q": query, "state": wanted, "fragment": "1"}),
        query=query,
        wanted=wanted,
        states=STATES,
        **_fleet(state, query, wanted, now, judged),
    )
