"""One workspace's status page at /workspace/<name>: the alerts whose condition holds now with
what to do, its instances, statistics, endpoints and collectors. The numbers that trip an alert
are coloured. Every string that came from a server goes through `html_text()`."""

from __future__ import annotations

import html
import time
import urllib.parse

from exporter.alerts import conditions
from exporter.collecting import statfields as f
from exporter.collectors import instances, statistics
from exporter.collectors.instances import Instance
from exporter.rocketchat.reasons import what_to_do
from exporter.runtime.state import LOGIN, WorkspaceState
from exporter.web.collectorpage import collectors_section
from exporter.web.fleetpage import alert_chip
from exporter.web.htmlbits import age, coming, html_text, num, table, when
from exporter.web.layout import page
from exporter.web.verdict import Verdict, health

DISCONNECTED = "RocketChatInstanceDisconnected"
HEARTBEAT = "RocketChatInstanceHeartbeatStale"
# connected false that the disconnect alert does not count (see conditions.disconnected)
QUIET_DISCONNECT = "not connected (a newer record of it is, or this license links no peers)"


def flagged(text: str, on: bool, css: str = "warn") -> str:
    """A number coloured when it trips an alert."""
    return f'<span class="{css}">{text}</span>' if on else text


def alerts_section(h: Verdict) -> str:
    """The alerts whose condition holds now, each with what to do and its runbook."""
    if not h.findings:
        return '<h2>Alerts</h2><p class="ok">No alert condition holds.</p>'
    items = "".join(
        f"<li>{alert_chip((alert, subjects))} <code>{alert.name}</code> ({alert.severity}; "
        f"the rule fires {alert.fires}). <b>What to do:</b> "
        f"{html.escape(alert.action).replace('`', '')} "
        f'<a href="/runbooks#{alert.anchor}">runbook</a></li>'
        for alert, subjects in h.findings
    )
    return f'<h2>Alerts</h2><ul class="alerts">{items}</ul>'


def _instance_row(instance: Instance, links_reported: bool, now: float, h: Verdict) -> str:
    where = f"{instance.host}:{instance.port}"
    if not links_reported:
        connected = '<span class="muted">not reported</span>'
    else:
        connected = {
            True: '<span class="ok">connected</span>',
            False: '<span class="bad">DISCONNECTED</span>'
            if where in h.subjects(DISCONNECTED)
            else f'<span class="muted">{QUIET_DISCONNECT}</span>',
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
    beat = (
        "-"
        if heartbeat is None
        else flagged(age(now - heartbeat), where in h.subjects(HEARTBEAT), "bad")
    )
    return (
        f"<tr><td>{html_text(f'{instance.host}:{instance.port}')}</td>"
        f"<td>{html_text(instance.address or '-')}</td>"
        f"<td>{html_text(instance.node_version or '-')}</td>"
        f"<td>{connected}</td><td>{num(instance.connections)}</td><td>{num(instance.cpus)}</td>"
        f"<td>{memory}</td><td>{load}</td><td>{uptime}</td>"
        f"<td>{when(instance.start_time_seconds, now)}</td>"
        f"<td>{beat}</td></tr>"
    )


ENDPOINT_HEAD = [
    "endpoint", "last poll", "took", "last success", "next try", "result", "what to do",
]  # fmt: skip


def workspace_main(workspace: WorkspaceState, now: float) -> str:
    h = health(workspace, now)
    answer = instances.latest(workspace)
    rows = ""
    if answer is not None:
        rows = "".join(_instance_row(i, answer.links_reported, now, h) for i in answer)
    total = conditions.connections(workspace)
    if total is not None:
        near = h.holds("RocketChatPresenceCapNear")
        cap = " (near the presence cap of 200)" if near else ""
        note_total = f"<p>connections in all: {flagged(num(total), near)}{cap}</p>"
    else:
        note_total = ""
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
    stats = statistics.latest(workspace)
    if stats is None:
        shown = '<p class="muted">no statistics record (not polled yet, failing, or off)</p>'
    else:
        by_status = (
            stats.value(f.USERS_BY_STATUS, s) for s in ("online", "away", "busy", "offline")
        )
        fields = [
            ("version", html_text(stats.version or "-")),
            (
                "record age",
                "-"
                if stats.created_at is None
                else flagged(when(stats.created_at, now), h.holds("RocketChatStatisticsStale")),
            ),
            (
                "users (active)",
                f"{num(stats.value(f.USERS))} ({num(stats.value(f.ACTIVE_USERS))})",
            ),
            ("online / away / busy / offline", " / ".join(num(v) for v in by_status)),
            ("rooms", num(stats.value(f.ROOMS))),
            ("messages", num(stats.value(f.MESSAGES))),
            (
                "uploads",
                f"{num(stats.value(f.UPLOADS))} ({num(stats.value(f.UPLOADS_SIZE), 'bytes')})",
            ),
        ]
        shown = "<dl>" + "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in fields) + "</dl>"
    endpoint_rows = []
    for endpoint in (*workspace.endpoints, *workspace.optional, LOGIN):
        status = workspace.status[endpoint]
        if not status.attempted:
            if endpoint != LOGIN:
                endpoint_rows.append(
                    f"<tr><td>{html.escape(endpoint)}</td>"
                    '<td colspan="6" class="muted">not polled yet</td></tr>'
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
            f"<td>{coming(status.next_poll, now)}</td><td>{verdict}</td><td>{todo}</td></tr>"
        )
    label = {"up": "up", "down": "DOWN", "pending": "pending"}[h.state]
    return f"""<h1>{html_text(workspace.name)} <span class="{h.state}">{label}</span></h1>
<p>Rocket.Chat at {html_text(workspace.url or "-")}</p>
{alerts_section(h)}
<h2>Instances</h2>{note}{note_total}
{table(instance_head, rows, "no instances.get answer (not polled yet, or failing)")}
<h2>Statistics</h2>{shown}
<h2>Endpoints</h2>
{table(ENDPOINT_HEAD, "".join(endpoint_rows), "")}
{collectors_section(workspace, now, h.holds)}"""


def workspace_page(workspace: WorkspaceState) -> bytes:
    refresh = "/workspace/" + urllib.parse.quote(workspace.name, safe="") + "?fragment=1"
    return page(
        f"{workspace.name} - Rocket.Chat exporter",
        workspace_main(workspace, time.time()),
        refresh,
        '<a href="/">&larr; all workspaces</a>',
    )
