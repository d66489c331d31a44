"""Run only inside a network namespace of its own (tests/test_trust_boundary.py starts it):
127.0.0.0/8 is inside the fence, 169.254.169.254 (on lo, like a cloud metadata service) is
outside and holds a sink; /etc/resolv.conf points at tests/dnsserver.py on 127.0.0.1.

Each hostile name has a real instance inside and a sink at the same port outside. The sink
must receive nothing, over http and https, for the links collector (credentials) and the
health collector (past the default fence)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import ipaddress
import os
import ssl
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from dnsserver import NXDOMAIN, Zone, serve

from exporter.collecting.fence import reach
from exporter.collectors import health, links
from exporter.demo.fleet import FakeInstance, FakeWorkspace, make_statistics
from exporter.demo.server import FakeRocketChat
from exporter.model.config import Config, TLSConfig
from exporter.rocketchat.transport import Target

from conftest import fast_config, series

OUTSIDE = "169.254.169.254"
CERT = Path(os.environ["NETNS_CERT"])
KEY = Path(os.environ["NETNS_KEY"])
# name -> (the real instance's address, what the name answers query after query)
NAMES: dict[str, tuple[str, list[list[str] | str]]] = {
    "rebind.test": ("127.0.0.2", [["127.0.0.2"], [OUTSIDE]]),  # inside first, outside next
    "flaky.test": ("127.0.0.3", [NXDOMAIN, [OUTSIDE]]),  # fails once, then outside
    "both.test": ("127.0.0.4", [["127.0.0.4", OUTSIDE]]),  # one inside, one outside
    "good.test": ("127.0.0.5", [["127.0.0.5"]]),  # the control: a name that stays inside
}
LINK = "rocketchat_instance_link_connected"
HEALTHY = "rocketchat_instance_healthy"


@dataclasses.dataclass
class Sink:
    connections: int = 0
    received: list[bytes] = dataclasses.field(default_factory=list)


def tls_context() -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(CERT, KEY)
    return context


async def start_sink(port: int, tls: bool, sink: Sink) -> asyncio.Server:
    async def record(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        sink.connections += 1
        with contextlib.suppress(OSError, TimeoutError, ssl.SSLError):
            sink.received.append(await asyncio.wait_for(reader.read(65536), 5))
        writer.close()

    return await asyncio.start_server(record, OUTSIDE, port, ssl=tls_context() if tls else None)


async def start_instance(
    workspace: FakeWorkspace, instance: FakeInstance, bind: str, tls: bool, hosts: list[str]
) -> web.AppRunner:
    async def view(request: web.Request) -> web.StreamResponse:
        hosts.append(request.headers.get("Host", ""))
        if not workspace.authorized(request):
            return web.json_response({"success": False}, status=401)
        return web.json_response(workspace.instances_body(viewer=instance))

    async def livez(request: web.Request) -> web.StreamResponse:
        hosts.append(request.headers.get("Host", ""))
        return web.json_response({"status": "ok"})

    app = web.Application()
    app.router.add_get("/api/v1/instances.get", view)
    app.router.add_get("/livez", livez)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    await web.TCPSite(runner, bind, 0, ssl_context=tls_context() if tls else None).start()
    instance.port = str(runner.addresses[0][1])
    return runner


@dataclasses.dataclass
class Landscape:
    server: FakeRocketChat
    zone: Zone
    sinks: dict[str, Sink]
    hosts: list[str]  # the Host header of every request the real instances got


@pytest.fixture(params=["http", "https"])
async def landscape(request: pytest.FixtureRequest) -> AsyncIterator[Landscape]:
    tls = request.param == "https"
    zone = Zone({name: steps for name, (_, steps) in NAMES.items()})
    dns = await serve(zone, "127.0.0.1")
    workspace = FakeWorkspace(
        name="ee",
        instances=[FakeInstance(f"id-{name}", name, local=n == 0) for n, name in enumerate(NAMES)],
        statistics=[make_statistics("8.8.1", time.time() - 3600, 200)],
    )
    server = FakeRocketChat([workspace])
    await server.start()
    hosts: list[str] = []
    runners, servers, sinks = [], [], {}
    for instance in workspace.instances:
        bind = NAMES[instance.host][0]
        runners.append(await start_instance(workspace, instance, bind, tls, hosts))
        sinks[instance.host] = Sink()
        servers.append(await start_sink(int(instance.port), tls, sinks[instance.host]))
    yield Landscape(server, zone, sinks, hosts)
    for runner in runners:
        await runner.cleanup()
    for sink_server in servers:
        sink_server.close()
    dns.close()
    await server.stop()


def configured(land: Landscape, collector: str, scheme: str) -> Config:
    config = fast_config(land.server)
    template = f"{scheme}://{{host}}:{{port}}"
    inside = (ipaddress.ip_network("127.0.0.0/8"),)
    return dataclasses.replace(
        config,
        workspaces=tuple(
            dataclasses.replace(w, collectors=((collector, 0.2),), tls=TLSConfig(ca_file=CERT))
            .with_setting(links.ADDRESS, template)
            .with_setting(links.NETWORKS, inside)
            .with_setting(health.ADDRESS, template)
            .with_setting(health.NETWORKS, None)  # the default fence: link-local is outside
            for w in config.workspaces
        ),
    )


@pytest.mark.parametrize("collector", ["links", "health"])
async def test_no_hostile_name_gets_a_connection_outside_the_fence(
    landscape: Landscape, exporter_for: Any, collector: str, request: pytest.FixtureRequest
) -> None:
    scheme = request.node.callspec.params["landscape"]
    run = await exporter_for(configured(landscape, collector, scheme))
    family = LINK if collector == "links" else HEALTHY
    good = {"host": "good.test"}
    await run.wait_until(lambda s: bool(series(s, family, **good)), "the control name's series")
    await run.wait_until(
        lambda s: all(landscape.zone.asked[name] >= 3 for name in NAMES), "three lookups each"
    )
    await run.wait_until(lambda s: not series(s, family, host="rebind.test"), "rebind fenced")
    # the instances that answered were asked under their own name (SNI, certificate, Host)
    assert landscape.hosts
    assert {h.split(":")[0] for h in landscape.hosts} <= {"good.test", "rebind.test"}
    for name in ("flaky.test", "both.test"):
        assert not series(await run.samples(), family, host=name)
    _, page, _ = await run.get("/workspace/ee")
    assert f"{OUTSIDE} is outside allowed_networks" in page
    for name, sink in landscape.sinks.items():
        assert sink.connections == 0, (name, sink.received)


async def test_a_name_that_does_not_resolve_is_not_contacted_and_says_why() -> None:
    zone = Zone({"gone.test": [NXDOMAIN, ["127.0.0.2"]]})
    dns = await serve(zone, "127.0.0.1")
    try:
        found = await reach("http://{host}:{port}", "gone.test", "3000", None)
        assert found == "not contacted: gone.test does not resolve (Name or service not known)"
        again = await reach("https://{host}:{port}", "gone.test", "3000", None)
        assert again == Target("https://127.0.0.2:3000", "gone.test", "gone.test:3000")
    finally:
        dns.close()
