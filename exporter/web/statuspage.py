"""The status pages: a fleet overview at / and one page per workspace at /workspace/<name>.

Server-rendered HTML that works without JavaScript (filters are query parameters); a small
inline script only enhances it: filtering as you type and a refresh every few seconds that
swaps the page's <main> for a fresh one (no reload, no flicker). No external resources, so it
works air-gapped. Every string that came from a server goes through `html_text()`.
"""

from __future__ import annotations

import asyncio
import html
import time
import urllib.parse
from dataclasses import dataclass

from exporter import __version__
from exporter.collectors.records import Instance
from exporter.collectors.registry import COLLECTORS
from exporter.runtime.state import LOGIN, State, WorkspaceState
from exporter.web.collectorpage import collectors_section
from exporter.web.hints import what_to_do
from exporter.web.htmlbits import age, html_text, num, table, when

STALE_STATISTICS = 26 * 3600  # the server writes a record about once a day
STATES = {
    "": "all",
    "down": "down",
    "disconnected": "with a disconnected instance",
    "stale": "statistics older than 26 h",
    "pending": "not polled yet",
    "unreported": "links not reported",
    "collector": "an optional collector failing",
    "up": "up",
}


@dataclass(frozen=True)
class Verdict:
    """What the overview needs to know about one workspace."""

    state: str  # up, down, pending
    disconnected: int
    unreported: bool
    connected: int
    instances: int
    stale: bool
    failing: tuple[str, ...]  # core endpoints whose latest poll failed
    collectors_failing: tuple[str, ...] = ()  # optional collectors whose latest poll failed

    @property
    def rank(self) -> int:
        """Unhealthy first."""
        if self.state == "down":
            return 0
        if self.disconnected:
            return 1
        if self.stale:
            return 2
        return 3 if self.state == "pending" else 4

    def matches(self, wanted: str) -> bool:
        return (
            not wanted
            or wanted == self.state
            or (wanted == "disconnected" and self.disconnected > 0)
            or (wanted == "stale" and self.stale)
            or (wanted == "unreported" and self.unreported)
            or (wanted == "collector" and bool(self.collectors_failing))
        )


def health(workspace: WorkspaceState, now: float) -> Verdict:
    up = workspace.up
    answer = workspace.instances
    items = list(answer) if answer is not None else []
    stats = workspace.statistics
    created = stats.created_at if stats is not None else None
    return Verdict(
        state={True: "up", False: "down", None: "pending"}[up],
        disconnected=sum(1 for i in items if i.connected is False),
        unreported=answer is not None and not answer.links_reported,
        connected=sum(1 for i in items if i.connected),
        instances=len(items),
        stale=created is not None and now - created > STALE_STATISTICS,
        failing=tuple(
            e
            for e in workspace.endpoints
            if workspace.status[e].attempted and not workspace.status[e].ok
        ),
        collectors_failing=tuple(
            name
            for name, ok in workspace.collector_success()
            if not ok and COLLECTORS[name].optional
        ),
    )


def _page(title: str, main: str, refresh_url: str, head_extra: str = "") -> bytes:
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title>
<style>{_CSS}</style></head>
<body>
<header><a class="brand" href="/">Rocket.Chat exporter</a>
<span class="muted">{html.escape(__version__)}</span>
<nav><a href="/metrics">/metrics</a> <a href="/healthz">/healthz</a>
<a href="/ready">/ready</a></nav>
{head_extra}</header>
<main id="main" data-refresh="{html.escape(refresh_url)}">{main}</main>
<script>{_SCRIPT}</script>
</body></html>
"""
    # backslashreplace: a string that escaped the parsers' cleaning still cannot fail the page
    return page.encode("utf-8", "backslashreplace")


# -- the fleet overview -------------------------------------------------------------------------


# the fleet page lists at most this many workspaces (the unhealthy first): a page of 10 000 rows
# is megabytes that a browser's refresh would make the event loop render again and again
MAX_ROWS = 500
Judged = list[tuple[str, WorkspaceState, Verdict]]


def judge(state: State, now: float) -> Judged:
    """Every workspace with its verdict (see judge_async for a large fleet)."""
    return [(name, w, health(w, now)) for name, w in state.workspaces.items()]


async def judge_async(state: State, now: float, batch: int = 500) -> Judged:
    """judge, yielding to the event loop every `batch` workspaces: a scrape never waits for
    the verdicts of a whole large fleet."""
    judged: Judged = []
    for index, (name, workspace) in enumerate(list(state.workspaces.items())):
        judged.append((name, workspace, health(workspace, now)))
        if index % batch == batch - 1:
            await asyncio.sleep(0)
    return judged


def fleet_main(
    state: State, query: str, wanted: str, now: float, judged: Judged | None = None
) -> str:
    rows = []
    totals = {"up": 0, "down": 0, "pending": 0}
    connected = disconnected = unreported = stale = failing = collectors = 0
    needle = query.casefold()
    shown = []
    for name, workspace, h in judge(state, now) if judged is None else judged:
        totals[h.state] += 1
        connected += h.connected
        disconnected += h.disconnected
        unreported += h.instances if h.unreported else 0
        stale += h.stale
        failing += len(h.failing)
        collectors += len(h.collectors_failing)
        if h.matches(wanted) and needle in name.casefold():
            shown.append((h.rank, name, workspace, h))
    shown.sort(key=lambda item: (item[0], item[1]))
    for _rank, name, workspace, h in shown[:MAX_ROWS]:
        rows.append(_fleet_row(name, workspace, h, now))

    def link(count: int, state_: str, label: str, css: str = "") -> str:
        href = "/?" + urllib.parse.urlencode({"state": state_})
        cls = f' class="{css}"' if count and css else ""
        return f'<a href="{href}"><b{cls}>{count}</b> {label}</a>'

    summary = " ".join(
        f"<li>{item}</li>"
        for item in (
            link(len(state.workspaces), "", "workspaces"),
            link(totals["up"], "up", "up", "ok"),
            link(totals["down"], "down", "down", "bad"),
            link(totals["pending"], "pending", "pending", "warn"),
            link(connected, "", "instances connected"),
            link(disconnected, "disconnected", "disconnected", "bad"),
            link(unreported, "unreported", "links not reported"),
            link(stale, "stale", "statistics older than 26 h", "warn"),
            link(failing, "down", "endpoints failing", "bad"),
            link(collectors, "collector", "optional collectors failing", "warn"),
        )
    )
    total = sum(totals.values())
    filtered = f"{len(shown)} of {total} shown" if len(shown) != total else ""
    if len(shown) > MAX_ROWS:
        filtered = (
            f"the first {MAX_ROWS} of {len(shown)} listed (the unhealthy first); narrow them "
            "with the filter"
        )
    body = "".join(rows) or '<tr><td colspan="6" class="muted">no workspace matches</td></tr>'
    return f"""<ul class="summary">{summary}</ul>
<p class="muted" id="shown">{filtered}</p>
<div class="scroll"><table class="fleet"><thead><tr><th>workspace</th><th>state</th>
<th>instances</th><th class="wide">version</th><th class="wide">statistics age</th>
<th>last poll / error</th></tr></thead><tbody>{body}</tbody></table></div>"""


def _fleet_row(name: str, workspace: WorkspaceState, h: Verdict, now: float) -> str:
    href = "/workspace/" + urllib.parse.quote(name, safe="")
    label = {"up": "up", "down": "DOWN", "pending": "pending"}[h.state]
    if workspace.instances is None:
        instances = "-"
    elif h.unreported:
        instances = f"{h.instances} instance(s); links not reported by this server"
    else:
        instances = f"{h.connected}/{h.instances} connected"
        if h.disconnected:
            gone = ", ".join(
                html_text(f"{i.host}:{i.port}") for i in workspace.instances if i.connected is False
            )
            instances = f'<span class="bad">{instances}; disconnected: {gone}</span>'
    stats = workspace.statistics
    version = html_text(workspace.running_version or "-")  # the same as rocketchat_workspace_info
    created = stats.created_at if stats is not None else None
    shown_age = "-" if created is None else age(now - created)
    shown_age = f'<span class="warn">{shown_age}</span>' if h.stale else shown_age
    last = [workspace.status[e].last_poll_end for e in workspace.endpoints]
    polled = max((t for t in last if t is not None), default=None)
    problems = "".join(
        f'<div class="err" title="{html.escape(workspace.status[e].last_error)}">'
        f"<b>{html.escape(workspace.status[e].last_reason)}</b>: "
        f"{html_text(workspace.status[e].last_error)}</div>"
        for e in h.failing
    )
    if h.collectors_failing:  # never makes the workspace down, but the operator should know
        problems += (
            '<div class="warn">collector failing: '
            f"{html.escape(', '.join(h.collectors_failing))}</div>"
        )
    return (
        f'<tr class="row-{h.state}"><td><a href="{html.escape(href)}">{html_text(name)}</a></td>'
        f'<td class="{h.state}">{label}</td><td>{instances}</td>'
        f'<td class="wide">{version}</td><td class="wide">{shown_age}</td>'
        f"<td>{when(polled, now)}{problems}</td></tr>"
    )


def fleet_page(
    state: State, query: str, wanted: str, now: float | None = None, judged: Judged | None = None
) -> bytes:
    wanted = wanted if wanted in STATES else ""
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
    return _page("Rocket.Chat exporter", main, refresh, form)


# -- one workspace ------------------------------------------------------------------------------


def _instance_row(instance: Instance, links_reported: bool, now: float) -> str:
    if not links_reported:
        connected = '<span class="muted">not reported</span>'
    else:
        connected = {
            True: '<span class="ok">connected</span>',
            False: '<span class="bad">DISCONNECTED</span>',
            None: "-",
        }[instance.connected]
    total, free = instance.memory_total_bytes, instance.memory_free_bytes
    memory = (
        "-"
        if total is None
        else f"{num(None if free is None else total - free, 'bytes')} / {num(total, 'bytes')}"
    )
    load = " / ".join(num(v) for v in (instance.load1, instance.load5, instance.load15))
    uptime = "-" if instance.host_uptime_seconds is None else age(instance.host_uptime_seconds)
    heartbeat = instance.last_heartbeat_seconds
    return (
        f"<tr><td>{html_text(f'{instance.host}:{instance.port}')}</td>"
        f"<td>{html_text(instance.address or '-')}</td>"
        f"<td>{html_text(instance.node_version or '-')}</td>"
        f"<td>{connected}</td><td>{num(instance.connections)}</td><td>{num(instance.cpus)}</td>"
        f"<td>{memory}</td><td>{load}</td><td>{uptime}</td>"
        f"<td>{when(instance.start_time_seconds, now)}</td>"
        f"<td>{'-' if heartbeat is None else age(now - heartbeat)}</td></tr>"
    )


ENDPOINT_HEAD = ["endpoint", "last poll", "took", "last success", "result", "what to do"]


def workspace_main(workspace: WorkspaceState, now: float) -> str:
    h = health(workspace, now)
    answer = workspace.instances
    instances = ""
    if answer is not None:
        instances = "".join(_instance_row(i, answer.links_reported, now) for i in answer)
    note = (
        '<p class="muted">This server does not report cluster links (Community Edition or '
        "microservices): connected is unknown, not down.</p>"
        if h.unreported
        else ""
    )
    instance_head = [
        "host:port", "address", "node", "connected", "connections", "CPUs",
        "memory used / total", "load 1/5/15", "host uptime", "process start", "heartbeat age",
    ]  # fmt: skip
    stats = workspace.statistics
    if stats is None:
        statistics = '<p class="muted">no statistics record (not polled yet, failing, or off)</p>'
    else:
        fields = [
            ("version", html_text(stats.version or "-")),
            ("record age", "-" if stats.created_at is None else when(stats.created_at, now)),
            ("users (active)", f"{num(stats.users)} ({num(stats.active_users)})"),
            (
                "online / away / busy / offline",
                " / ".join(
                    num(v)
                    for v in (
                        stats.users_online,
                        stats.users_away,
                        stats.users_busy,
                        stats.users_offline,
                    )
                ),
            ),
            ("rooms", num(stats.rooms)),
            ("messages", num(stats.messages)),
            ("uploads", f"{num(stats.uploads)} ({num(stats.uploads_size_bytes, 'bytes')})"),
        ]
        statistics = "<dl>" + "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in fields) + "</dl>"
    endpoint_rows = []
    for endpoint in (*workspace.endpoints, *workspace.optional, LOGIN):
        status = workspace.status[endpoint]
        if not status.attempted:
            if endpoint != LOGIN:
                endpoint_rows.append(
                    f"<tr><td>{html.escape(endpoint)}</td>"
                    '<td colspan="5" class="muted">not polled yet</td></tr>'
                )
            continue
        if status.ok:
            verdict = f'<span class="ok">ok</span> {html.escape(status.note)}'.rstrip()
            todo = ""
        else:
            verdict = (
                f'<span class="bad">{html.escape(status.last_reason)}</span>: '
                f"{html_text(status.last_error)}"
            )
            todo = html.escape(what_to_do(status.last_reason)).replace("`", "")
        took = "-" if status.duration_seconds is None else f"{status.duration_seconds:.3f} s"
        endpoint_rows.append(
            f"<tr><td>{html.escape(endpoint)}</td><td>{when(status.last_poll_end, now)}</td>"
            f"<td>{took}</td><td>{when(status.last_success, now)}</td>"
            f"<td>{verdict}</td><td>{todo}</td></tr>"
        )
    label = {"up": "up", "down": "DOWN", "pending": "pending"}[h.state]
    return f"""<h1>{html_text(workspace.name)} <span class="{h.state}">{label}</span></h1>
<p>Rocket.Chat at {html_text(workspace.url or "-")}</p>
<h2>Instances</h2>{note}
{table(instance_head, instances, "no instances.get answer (not polled yet, or failing)")}
<h2>Statistics</h2>{statistics}
<h2>Endpoints</h2>
{table(ENDPOINT_HEAD, "".join(endpoint_rows), "")}
{collectors_section(workspace, now)}"""


def workspace_page(workspace: WorkspaceState) -> bytes:
    refresh = "/workspace/" + urllib.parse.quote(workspace.name, safe="") + "?fragment=1"
    return _page(
        f"{workspace.name} - Rocket.Chat exporter",
        workspace_main(workspace, time.time()),
        refresh,
        '<a href="/">&larr; all workspaces</a>',
    )


_CSS = """
body{font-family:system-ui,sans-serif;margin:0;color:#1f2328;background:#f6f8fa}
header{display:flex;flex-wrap:wrap;gap:.6em 1.2em;align-items:center;padding:.7em 1.2em;
background:#24292f;color:#fff}header a{color:#fff}.brand{font-weight:600;text-decoration:none}
header .muted{color:#bbb}nav a{margin-right:.8em}
main{padding:1em 1.2em;max-width:1600px}h1{font-size:1.4em}h2{font-size:1.1em;margin-top:1.4em}
form input,form select{font:inherit;padding:.25em .4em}
.summary{list-style:none;display:flex;flex-wrap:wrap;gap:.5em;padding:0;margin:0 0 .4em}
.summary li a{display:block;padding:.35em .7em;border-radius:6px;background:#fff;
border:1px solid #d0d7de;color:inherit;text-decoration:none}
.summary li a:hover{border-color:#0969da}
.scroll{overflow-x:auto}table{border-collapse:collapse;background:#fff;width:100%}
th,td{border-bottom:1px solid #d8dee4;padding:.35em .6em;text-align:left;vertical-align:top}
th{background:#eaeef2;font-weight:600}table{font-size:.94em}
td a{color:#0969da}.up,.ok{color:#1a7f37;font-weight:600}.down,.bad{color:#cf222e;font-weight:600}
.pending,.warn{color:#9a6700}.muted{color:#656d76}
tr.row-down td{background:#fff8f8}
.err{color:#cf222e;overflow-wrap:anywhere;display:-webkit-box;-webkit-line-clamp:2;
-webkit-box-orient:vertical;overflow:hidden}
dl{display:grid;grid-template-columns:max-content auto;gap:.2em 1em}dt{color:#656d76}dd{margin:0}
@media (max-width:700px){.wide{display:none}main{padding:.6em}th,td{padding:.3em}
.summary{gap:.3em}.summary li a{padding:.2em .45em;font-size:.88em}header{padding:.5em .6em}}
"""

# Filter as you type and refresh every 5 s by swapping <main>; without JavaScript the form
# submits and the page is still complete.
_SCRIPT = """
(function(){
var main=document.getElementById('main'),form=document.getElementById('filter'),busy=false,
again=false;
function url(){var u=main.getAttribute('data-refresh');if(!form)return u;
var p=new URLSearchParams(new FormData(form));history.replaceState(null,'','/?'+p);
p.set('fragment','1');return '/?'+p;}
function refresh(){if(busy){again=true;return;}busy=true;fetch(url(),{cache:'no-store'})
.then(function(r){return r.ok?r.text():null}).then(function(t){if(t!==null&&t!==main.innerHTML)
main.innerHTML=t;}).catch(function(){}).then(function(){busy=false;
if(again){again=false;refresh();}});}
if(form){form.addEventListener('input',refresh);form.addEventListener('submit',
function(e){e.preventDefault();refresh();});}
setInterval(refresh,5000);
})();
"""
