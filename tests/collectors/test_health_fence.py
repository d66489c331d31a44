"""The health collector connects to addresses a server's answer names: allowed_networks fences
them (default: anything but link-local, multicast, unspecified and broadcast). An instance
outside the fence is never connected to and has no health series (unknown, not unhealthy)."""

from __future__ import annotations

import asyncio
import dataclasses
import ipaddress
from collections.abc import AsyncIterator
from typing import Any

import pytest

from exporter.collectors import health
from exporter.demo.fleet import FakeInstance, FakeWorkspace, make_statistics
from exporter.demo.landscape import config_for
from exporter.demo.server import FakeRocketChat
from exporter.model.config import allowed

from conftest import series, value


@pytest.mark.parametrize(
    ("address", "verdict"),
    [
        ("10.0.0.5", True),
        ("127.0.0.1", True),
        ("fd00::1", True),
        ("169.254.169.254", False),  # cloud metadata services
        ("fe80::1", False),
        ("::ffff:169.254.169.254", False),  # the same, IPv4-mapped
        ("64:ff9b::a9fe:a9fe", False),  # the same through a NAT64 gateway
        ("::a9fe:a9fe", False),  # the same, IPv4-compatible
        ("64:ff9b::a00:5", True),  # 10.0.0.5 through NAT64
        ("::1", True),
        ("224.0.0.1", False),
        ("ff02::1", False),
        ("0.0.0.0", False),
        ("::", False),
        ("255.255.255.255", False),
    ],
)
def test_the_default_fence_keeps_out_link_local_multicast_unspecified_and_broadcast(
    address: str, verdict: bool
) -> None:
    assert allowed(ipaddress.ip_address(address), None) is verdict


def test_a_listed_fence_allows_only_its_networks() -> None:
    networks = (ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("fd00::/8"))
    assert allowed(ipaddress.ip_address("10.1.2.3"), networks)
    assert allowed(ipaddress.ip_address("fd00::5"), networks)
    assert not allowed(ipaddress.ip_address("127.0.0.1"), networks)
    assert not allowed(ipaddress.ip_address("169.254.169.254"), ())


@pytest.mark.parametrize(
    ("address", "verdict"),
    [
        ("::ffff:10.1.2.3", True),
        ("64:ff9b::10.1.2.3", True),
        ("::10.1.2.3", True),
        ("::ffff:127.0.0.1", False),
        ("64:ff9b::127.0.0.1", False),
        ("::127.0.0.1", False),
    ],
)
def test_a_listed_fence_judges_mapped_nat64_and_compatible_addresses_by_their_ipv4(
    address: str, verdict: bool
) -> None:
    networks = (ipaddress.ip_network("10.0.0.0/8"),)
    assert allowed(ipaddress.ip_address(address), networks) is verdict


@pytest.fixture
async def counting_listener() -> AsyncIterator[tuple[int, list[int]]]:
    """127.0.0.1:port answering /livez ok, counting the connections it gets."""
    connections = [0]

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections[0] += 1
        await reader.readuntil(b"\r\n\r\n")
        body = b'{"status": "ok"}'
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    yield int(server.sockets[0].getsockname()[1]), connections
    server.close()


@pytest.mark.parametrize("fence", ["default", "listed"])
async def test_instances_outside_the_fence_are_never_contacted_and_have_no_series(
    counting_listener: tuple[int, list[int]], exporter_for: Any, fence: str
) -> None:
    port, connections = counting_listener
    workspace = FakeWorkspace(
        name="w",
        shape="B",
        instances=[
            FakeInstance("local", "10.0.0.1", local=True),
            # 2130706433 is 127.0.0.1 written as one number: resolved before it is checked
            FakeInstance("numeric", "2130706433", port=str(port)),
            FakeInstance("metadata", "169.254.169.254", port="80"),
        ],
        statistics=[make_statistics("8.8.1", 1.75e9, 10)],
    )
    fake = FakeRocketChat([workspace])
    await fake.start()
    try:
        config = config_for(fake, poll_interval=0.5, statistics_interval=0.5, timeout=1.0)
        networks = None if fence == "default" else (ipaddress.ip_network("10.0.0.0/8"),)
        config = dataclasses.replace(
            config,
            workspaces=tuple(
                dataclasses.replace(w, collectors=(("health", 0.5),)).with_setting(
                    health.NETWORKS, networks
                )
                for w in config.workspaces
            ),
        )
        run = await exporter_for(config)
        samples = await run.wait_until(
            lambda s: value(s, "rocketchat_exporter_collector_success", workspace="w",
                            collector="health") is not None,
            "a health poll",
        )  # fmt: skip
        ids = {s["instance_id"] for s in series(samples, "rocketchat_instance_healthy")}
        status, page, _ = await run.get("/workspace/w")
    finally:
        await fake.stop()
    assert "metadata" not in ids  # link-local: outside either fence
    assert "169.254.169.254 is outside allowed_networks" in page and status == 200
    if fence == "default":
        assert "numeric" in ids and connections[0] >= 1
    else:  # 127.0.0.1 is not in 10.0.0.0/8: never connected to
        assert "numeric" not in ids and connections[0] == 0
        assert "127.0.0.1 is outside allowed_networks" in page
