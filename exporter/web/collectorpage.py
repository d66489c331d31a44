"""The optional collectors on a workspace's status page: each one's state and the permission it
needs, and what they found (license, per-instance health, omnichannel queue)."""

from __future__ import annotations

import html
from collections.abc import Callable
from datetime import UTC, datetime

from exporter.alerts import conditions
from exporter.collecting.registry import COLLECTORS
from exporter.collectors import health, info, instances, licenses, links, omnichannel
from exporter.runtime.state import WorkspaceState
from exporter.web.htmlbits import age, html_text, num, table


def _state(workspace: WorkspaceState, endpoints: tuple[str, ...]) -> str:
    statuses = [workspace.status[e] for e in endpoints]
    if not all(s.attempted for s in statuses):
        return '<span class="muted">not polled yet</span>'
    failing = [e for e, s in zip(endpoints, statuses, strict=True) if not s.ok]
    if failing:
        return f'<span class="bad">failing</span>: {html.escape(", ".join(failing))}'
    notes = {s.note for s in statuses if s.note}
    return '<span class="ok">ok</span> ' + html.escape("; ".join(sorted(notes)))


Holds = Callable[[str], bool]  # does this alert's condition hold now?


def _until(moment: float, now: float) -> str:
    day = datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%d %H:%M UTC")
    if moment <= now:
        return f'<span class="bad">{day} (expired)</span>'
    css = "warn" if moment - now < conditions.EXPIRY_WITHIN else "ok"
    return f'<span class="{css}">{day} (in {age(moment - now)})</span>'


def _license(workspace: WorkspaceState, now: float, holds: Holds) -> str:
    seats = workspace.get(licenses.MAX_ACTIVE_USERS)
    found = workspace.get(licenses.INFO)
    rows = []
    if seats is not None:
        limit = "no limit" if seats.max is None else num(seats.max)
        ratio = conditions.seats_ratio(workspace)
        share = "" if ratio is None else f" ({ratio:.1%})"
        if holds("RocketChatLicenseSeatsNearLimit"):
            share = f'<span class="warn">{share}</span>'
        rows.append(("seats used / licensed", f"{num(seats.used)} / {limit}{share}"))
    if found is not None:
        blocked = [kind for kind, on in found.prevented if on]
        rows += [
            ("trial", {True: "yes", False: "no", None: "-"}[found.trial]),
            ("modules", html_text(", ".join(found.modules) or "none")),
            ("expires", "-" if found.expiry is None else _until(found.expiry, now)),
            (
                "prevented actions",
                f'<span class="warn">{html_text(", ".join(blocked))}</span>' if blocked else "none",
            ),
        ]
        if not found.limits and found.expiry is None:
            rows.append(
                ("limits, expiry", f'<span class="warn">{html.escape(licenses.PRIVILEGED)}</span>')
            )
    return "<h3>License</h3><dl>" + "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in rows) + "</dl>"


def _support(workspace: WorkspaceState, now: float) -> str:
    """The support window: when the official apps stop accepting the version, and the oldest
    apps the workspace accepts (from /api/info, 6.5+)."""
    found = info.latest(workspace)
    if found is None or (found.support_end is None and found.minimum is None):
        return ""
    rows = []
    if found.support_end is not None:
        end = found.support_end
        day = datetime.fromtimestamp(end, UTC).strftime("%Y-%m-%d")
        left = (end - now) / 86400
        if end <= now:
            shown = (
                f'<span class="bad">{day}: ended {-left:.0f} days ago (the apps refuse it)</span>'
            )
        else:
            css = "warn" if end - now < conditions.SUPPORT_WITHIN else "ok"
            shown = f'<span class="{css}">{day} ({left:.0f} days left)</span>'
        version = ".".join(str(p) for p in found.major_minor) if found.major_minor else "?"
        rows.append((f"mobile and desktop apps accept {html.escape(version)} until", shown))
    if found.minimum is not None:
        desktop, mobile = (html.escape(v) for v in found.minimum)
        rows.append(("oldest apps accepted", f"desktop {desktop}, mobile {mobile}"))
    items = "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in rows)
    return f"<h3>Support window</h3><dl>{items}</dl>"


def _health(workspace: WorkspaceState) -> str:
    checked = workspace.get(health.RESULTS)
    hosts = {i.instance_id: f"{i.host}:{i.port}" for i in instances.latest(workspace) or ()}
    rows = []
    for result in checked or ():
        said = result.health
        if said is None:
            verdict = f'<span class="muted">{html.escape(result.error or health.NO_ROUTE)}</span>'
        elif said.healthy:
            verdict = '<span class="ok">healthy</span>'
        else:
            verdict = '<span class="bad">UNHEALTHY</span> ' + html_text(result.error or "said so")
        heap = "-" if said is None or said.heap_ratio is None else f"{said.heap_ratio:.0%}"
        if (
            said is not None
            and said.heap_ratio is not None
            and said.heap_ratio > conditions.HEAP_RATIO
        ):
            heap = f'<span class="warn">{heap}</span>'

        lag = said.event_loop_lag_seconds if said is not None else None
        rows.append(
            f"<tr><td>{html_text(hosts.get(result.instance_id, result.instance_id))}</td>"
            f"<td>{verdict}</td><td>{heap}</td>"
            f"<td>{'-' if lag is None else f'{lag * 1000:.0f} ms'}</td></tr>"
        )
    head = ["instance", "health", "heap", "event-loop lag"]
    return "<h3>Instance health</h3>" + table(head, "".join(rows), "no instance checked yet")


def _links(workspace: WorkspaceState) -> str:
    """The mesh as a matrix: a row per instance asked, a column per peer; a broken link is
    red, and marked one-way when the peer's own view says it is linked back."""
    mesh = workspace.get(links.MESH)
    if mesh is None:
        return '<h3>Cluster links</h3><p class="muted">not asked yet</p>'
    if mesh.note:
        return f'<h3>Cluster links</h3><p class="muted">{html.escape(mesh.note)}</p>'
    seen = {(v.host, v.port): {(h, p): ok for h, p, ok in v.links} for v in mesh.views}
    peers = sorted({peer for view in seen.values() for peer in view} | set(seen))
    head = ["asked \\ peer", *(html_text(f"{h}:{p}") for h, p in peers)]
    rows = []
    for view in mesh.views:
        me = (view.host, view.port)
        cells = []
        for peer in peers:
            ok = seen[me].get(peer)
            if peer == me:
                cells.append('<td class="muted">self</td>')
            elif ok is None:
                cells.append('<td class="muted">-</td>')
            elif ok:
                cells.append('<td class="ok">linked</td>')
            else:
                back = seen.get(peer, {}).get(me)
                one_way = " (one-way: the peer sees it)" if back else ""
                cells.append(f'<td class="bad">NO LINK{one_way}</td>')
        error = f' <span class="muted">{html_text(view.error)}</span>' if view.error else ""
        name = html_text(f"{view.host}:{view.port}")
        rows.append(f"<tr><td>{name}{error}</td>{''.join(cells)}</tr>")
    return "<h3>Cluster links</h3>" + table(head, "".join(rows), "no instance asked")


def _omnichannel(workspace: WorkspaceState, holds: Holds) -> str:
    parts = []
    for endpoint in (omnichannel.AGENTS_ENDPOINT, omnichannel.CHATS_ENDPOINT):
        counts = workspace.get(endpoint)
        if counts is not None:
            parts.append(", ".join(f"{k} {num(v)}" for k, v in counts))
    if not parts:
        return ""
    if holds("RocketChatOmnichannelNoAgent"):
        parts = [f'<span class="warn">{part}</span>' for part in parts]
    return f"<h3>Omnichannel</h3><p>agents: {parts[0]}</p>" + (
        f"<p>chats: {parts[1]}</p>" if len(parts) > 1 else ""
    )


def collectors_section(workspace: WorkspaceState, now: float, holds: Holds) -> str:
    """The Collectors part of /workspace/<name>."""
    rows = []
    for name, endpoints in workspace.collectors:
        collector = COLLECTORS[name]
        rows.append(
            f"<tr><td>{name}</td><td>{_state(workspace, endpoints)}</td>"
            f"<td>{html.escape(collector.permission or '-')}</td>"
            f"<td>{html.escape(collector.summary)}</td></tr>"
        )
    head = ["collector", "state", "the exporter's user needs", "answers"]
    section = "<h2>Collectors</h2>" + table(head, "".join(rows), "")
    enabled = {name for name, _ in workspace.collectors}
    if "info" in enabled:
        section += _support(workspace, now)
    if "licenses" in enabled:
        section += _license(workspace, now, holds)
    if "health" in enabled:
        section += _health(workspace)
    if "links" in enabled:
        section += _links(workspace)
    if "omnichannel" in enabled:
        section += _omnichannel(workspace, holds)
    return section
