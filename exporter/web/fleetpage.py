"""The fleet overview at /: one chip per state and per alert whose condition holds somewhere,
one row per workspace (the unhealthy first) naming its alerts. Every string that came from a
server goes through `html_text()`."""

from __future__ import annotations

import html
import time
import urllib.parse
from collections import Counter

from exporter.alerts import conditions
from exporter.alerts.catalogue import ALERTS, Finding
from exporter.collectors import instances, statistics
from exporter.runtime.state import State, WorkspaceState
from exporter.web.htmlbits import age, html_text, when
from exporter.web.layout import page
from exporter.web.verdict import STATES, Judged, Verdict, judge, wanted_filter

# the fleet page lists at most this many workspaces (the unhealthy first): a page of 10 000 rows
# is megabytes that a browser's refresh would make the event loop render again and again
MAX_ROWS = 500


def alert_chip(finding: Finding) -> str:
    """An alert's name as the pages show it, with its subjects, linked to its runbook."""
    alert, subjects = finding
    named = [s for s in subjects if s]
    detail = f": {', '.join(named[:3])}{' ...' if len(named) > 3 else ''}" if named else ""
    text = html_text(alert.title + detail)
    return (
        f'<a class="alert {alert.severity}" href="/runbooks#{alert.anchor}" '
        f'title="{alert.name} ({alert.severity})">{text}</a>'
    )


def _filter_link(count: int, state: str, label: str, css: str = "") -> str:
    href = "/?" + urllib.parse.urlencode({"state": state})
    cls = f' class="{css}"' if count and css else ""
    return f'<a href="{href}"><b{cls}>{count}</b> {label}</a>'


def fleet_main(
    state: State, query: str, wanted: str, now: float, judged: Judged | None = None
) -> str:
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
    rows = [_fleet_row(name, workspace, h, now) for _, name, workspace, h in shown[:MAX_ROWS]]
    chips = [
        _filter_link(len(state.workspaces), "", "workspaces"),
        _filter_link(totals["up"], "up", "up", "ok"),
        _filter_link(totals["down"], "down", "down", "bad"),
        _filter_link(totals["pending"], "pending", "pending", "warn"),
        _filter_link(connected, "", "instances connected"),
        _filter_link(unreported, "unreported", "links not reported"),
    ]
    for alert in ALERTS:  # in the alerts table's order, only those that hold somewhere
        if alerting[alert.name]:
            href = "/?" + urllib.parse.urlencode({"state": alert.name})
            chips.append(
                f'<a class="alert {alert.severity}" href="{href}" title="{alert.name}">'
                f"<b>{alerting[alert.name]}</b> {html.escape(alert.title)}</a>"
            )
    if not alerting:
        chips.append('<span class="ok">no alert condition holds</span>')
    summary = " ".join(f"<li>{chip}</li>" for chip in chips)
    total = sum(totals.values())
    filtered = f"{len(shown)} of {total} shown" if len(shown) != total else ""
    if len(shown) > MAX_ROWS:
        filtered = (
            f"the first {MAX_ROWS} of {len(shown)} listed (the unhealthy first); narrow them "
            "with the filter"
        )
    body = "".join(rows) or '<tr><td colspan="7" class="muted">no workspace matches</td></tr>'
    return f"""<ul class="summary">{summary}</ul>
<p class="muted" id="shown">{filtered}</p>
<div class="scroll"><table class="fleet"><thead><tr><th>workspace</th><th>state</th>
<th>alerts</th><th>instances</th><th class="wide">version</th>
<th class="wide">statistics age</th><th>last poll / error</th></tr></thead>
<tbody>{body}</tbody></table></div>"""


def _errors(workspace: WorkspaceState, h: Verdict) -> str:
    """Each distinct failure once (a server that is down fails every endpoint the same way),
    naming the endpoints it hit."""
    by_reason: dict[str, list[str]] = {}
    for endpoint in h.failing:
        by_reason.setdefault(workspace.status[endpoint].last_reason, []).append(endpoint)
    parts = []
    for reason, endpoints in by_reason.items():
        message = workspace.status[endpoints[0]].last_error
        parts.append(
            f'<div class="err" title="{html.escape(message)}"><b>{html.escape(reason)}</b> '
            f"({html.escape(', '.join(endpoints))}): {html_text(message)}</div>"
        )
    return "".join(parts)


def _fleet_row(name: str, workspace: WorkspaceState, h: Verdict, now: float) -> str:
    href = "/workspace/" + urllib.parse.quote(name, safe="")
    label = {"up": "up", "down": "DOWN", "pending": "pending"}[h.state]
    if instances.latest(workspace) is None:
        listed = "-"
    elif h.unreported:
        listed = f"{h.instances} instance(s); links not reported by this server"
    else:
        listed = f"{h.connected}/{h.instances} connected"
    stats = statistics.latest(workspace)
    version = html_text(workspace.running_version or "-")  # the same as rocketchat_workspace_info
    end = conditions.support_end(workspace)
    if end is not None and h.holds("RocketChatVersionSupportEnded"):
        version += ' <span class="bad">apps refuse it: support ended</span>'
    elif end is not None and h.holds("RocketChatVersionSupportEndingSoon"):
        version += f' <span class="warn">support ends in {(end - now) / 86400:.0f} days</span>'
    created = stats.created_at if stats is not None else None
    shown_age = "-" if created is None else age(now - created)
    if h.holds("RocketChatStatisticsStale"):
        shown_age = f'<span class="warn">{shown_age}</span>'
    last = [workspace.status[e].last_poll_end for e in workspace.endpoints]
    polled = max((t for t in last if t is not None), default=None)
    alerts = " ".join(alert_chip(f) for f in h.findings)
    return (
        f'<tr class="row-{h.state}"><td><a href="{html.escape(href)}">{html_text(name)}</a></td>'
        f'<td class="{h.state}">{label}</td><td>{alerts}</td>'
        f'<td data-label="instances">{listed}</td>'
        f'<td class="wide" data-label="version">{version}</td>'
        f'<td class="wide" data-label="statistics age">{shown_age}</td>'
        f'<td data-label="last poll">{when(polled, now)}{_errors(workspace, h)}</td></tr>'
    )


def fleet_page(
    state: State, query: str, wanted: str, now: float | None = None, judged: Judged | None = None
) -> bytes:
    wanted = wanted_filter(wanted)
    now = time.time() if now is None else now
    options = "".join(
        f'<option value="{k}"{" selected" if k == wanted else ""}>{html.escape(v)}</option>'
        for k, v in STATES.items()
    )
    form = (
        '<form id="filter" method="get" action="/">'
        f'<input type="search" name="q" value="{html.escape(query)}" placeholder="filter by name" '
        'aria-label="filter by name"> '
        f'<select name="state" aria-label="state">{options}</select> '
        '<noscript><button type="submit">filter</button></noscript></form>'
    )
    refresh = "/?" + urllib.parse.urlencode({"q": query, "state": wanted, "fragment": "1"})
    main = fleet_main(state, query, wanted, now, judged)
    return page("Rocket.Chat exporter", main, refresh, form)
