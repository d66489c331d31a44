"""links (opt-in): each instance's own instances.get, asked at its address, so the cluster is
seen from every instance and not only from the one the load balancer picked. Realtime stalls
come from broken links between particular pairs, sometimes one way only.

Credentials go to each instance, so only addresses inside the workspace's allowed_networks are
asked (the config requires the list), clusters of at most MAX_CLUSTER instances, at most every
30 s, and each answer is capped like a health answer (PROBE_MAX_BYTES)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from exporter.collecting.base import (
    Collected,
    Collector,
    Family,
    Fetch,
    Key,
    Option,
    Out,
    Report,
    Request,
)
from exporter.collecting.expfmt import escape
from exporter.collecting.fence import address_option, all_within, networks_option, reach
from exporter.collecting.outcome import NeedsCore
from exporter.collectors.instances import ANSWER as INSTANCES
from exporter.collectors.instances import PATH, parse_instances
from exporter.rocketchat.errors import PollError
from exporter.rocketchat.values import ParseError

LINK = "rocketchat_instance_link_connected"
MAX_CLUSTER = 50
LABELS = ("workspace", "host", "port", "peer_host", "peer_port")
FAMILIES = (
    Family(
        LINK,
        "gauge",
        "1 if the instance at host:port says it holds a live cluster link to the peer at "
        "peer_host:peer_port (its own instances.get), else 0; absent where it reports no links.",
        LABELS,
    ),
)


@dataclass(frozen=True, slots=True)
class View:
    """What one instance says of its peers: (peer host, peer port, connected) each."""

    host: str
    port: str
    links: tuple[tuple[str, str, bool], ...] = ()
    error: str = ""  # why there is no view (outside the fence, no answer, no links reported)


@dataclass(frozen=True, slots=True)
class Mesh:
    views: tuple[View, ...]
    note: str = ""  # why nobody was asked (a cluster too large, links not reported)


def view_of(host: str, port: str, body: object) -> View:
    """One instance's answer -> its links, itself left out; a peer restarting is listed twice
    (old record disconnected, new connected): connected if any record of it is."""
    try:
        answer = parse_instances(body)
    except ParseError as exc:
        return View(host, port, error=f"not an instances.get answer: {exc}")
    if not answer.links_reported:
        return View(host, port, error="reports no links")
    peers: dict[tuple[str, str], bool] = {}
    for item in answer:
        if (item.host, item.port) != (host, port):
            key = (item.host, item.port)
            peers[key] = peers.get(key, False) or bool(item.connected)
    return View(host, port, tuple((h, p, ok) for (h, p), ok in sorted(peers.items())))


async def fetch(ctx: Fetch) -> Mesh:
    instances = ctx.state.get(INSTANCES)
    if instances is None:  # the core's verdict, or a wait for its first answer (outcome.py)
        raise NeedsCore("no instances.get answer to ask")
    workspace = ctx.workspace
    asked = sorted({(i.host, i.port) for i in instances})
    if not instances.links_reported:
        return Mesh((), note="this server does not report links (Community Edition?)")
    if len(asked) > MAX_CLUSTER:
        return Mesh((), note=f"{len(asked)} instances: links are asked of at most {MAX_CLUSTER}")

    async def ask(host: str, port: str) -> View:
        target = await reach(workspace.setting(ADDRESS), host, port, workspace.setting(NETWORKS))
        if isinstance(target, str):
            return View(host, port, error=target)
        try:
            response = await ctx.client.get_at(target, PATH)
        except PollError as exc:
            return View(host, port, error=exc.message)
        return view_of(host, port, response.body)

    # every instance within one timeout, as health does: one that hangs costs its own view
    done = await all_within(workspace.timeout, [ask(host, port) for host, port in asked])
    late = f"no answer within {workspace.timeout:g}s"
    return Mesh(
        tuple(
            view if view is not None else View(host, port, error=late)
            for view, (host, port) in zip(done, asked, strict=True)
        )
    )


def render(ws_label: str, workspace: Collected, out: Out) -> None:
    mesh = workspace.get(MESH)
    if mesh is None:
        return
    for view in mesh.views:
        asking = f'{ws_label},host="{escape(view.host)}",port="{escape(view.port)}"'
        for peer_host, peer_port, connected in view.links:
            out[LINK].append(
                f'{LINK}{{{asking},peer_host="{escape(peer_host)}",'
                f'peer_port="{escape(peer_port)}"}} {1 if connected else 0}\n'
            )


MESH: Key[Mesh] = Key("links")

# its settings: where each instance's own API is, and where it may be asked; the list is
# required when links is on, since the workspace's credentials go there
ADDRESS = address_option("links")
NETWORKS = networks_option("links")


def _check(
    enabled: bool, interval: float | None, setting: Callable[[Option[Any]], Any], report: Report
) -> None:
    if enabled and setting(NETWORKS) is None:
        report(
            "allowed_networks",
            "is required with the links collector: it sends the workspace's credentials "
            "to each instance's address (e.g. allowed_networks: [10.0.0.0/8])",
        )


COLLECTOR = Collector(
    name="links",
    summary="each instance's own instances.get at its address: who holds a link to whom",
    requests=(
        Request(
            MESH,
            "/api/v1/instances.get at each instance (inside allowed_networks)",
            lambda body, config: None,  # never a plain GET: see fetch
            fetch=fetch,
        ),
    ),
    interval=lambda workspace: max(workspace.poll_interval, 30.0),
    interval_doc="poll_interval, at least 30s",
    families=FAMILIES,
    rank=60,
    render=render,
    options=(ADDRESS, NETWORKS),
    check=_check,
    min_interval=30.0,
    permission="view-statistics (the same user, at each instance's address)",
    versions="6.0+ (Enterprise: links reported)",
)
