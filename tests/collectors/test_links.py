"""The links collector end to end over loopback: each instance (its own 127.0.0.N listener)
asked for its own instances.get — a one-way break, the fence, credentials, the size cap, the
cluster size limit and servers that report no links."""

from __future__ import annotations

import dataclasses
import ipaddress
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from exporter.collectors import links
from exporter.collectors.links import MAX_CLUSTER
from exporter.config.load import load_config
from exporter.demo.fleet import FakeInstance, FakeWorkspace, make_statistics
from exporter.demo.server import FakeRocketChat, start_health
from exporter.model.config import Config, ConfigError

from conftest import fast_config, promtool_check_metrics, series, value

LINK = "rocketchat_instance_link_connected"
SUCCESS = "rocketchat_exporter_collector_success"
PATH = "/api/v1/instances.get"


def mesh_workspace(name: str = "ee", count: int = 3, first: int = 2) -> FakeWorkspace:
    ids = [f"{name}-{n}" for n in range(count)]
    return FakeWorkspace(
        name=name,
        instances=[
            FakeInstance(ids[n], f"127.0.0.{first + n}", local=n == 0) for n in range(count)
        ],
        statistics=[make_statistics("8.8.1", time.time() - 3600, 200)],
    )


@pytest.fixture
async def mesh() -> AsyncIterator[FakeRocketChat]:
    workspace = mesh_workspace()
    workspace.instances[1].blind_to = {"ee-2"}  # 127.0.0.3 cannot reach 127.0.0.4; not back
    server = FakeRocketChat([workspace])
    await server.start()
    await start_health(server)
    yield server
    await server.stop()


def with_links(config: Config, *networks: str) -> Config:
    fence = tuple(ipaddress.ip_network(n) for n in networks)
    return dataclasses.replace(
        config,
        workspaces=tuple(
            dataclasses.replace(w, collectors=(("links", 0.2),)).with_setting(links.NETWORKS, fence)
            for w in config.workspaces
        ),
    )


def at(host: str, peer: str) -> dict[str, str]:
    return {"workspace": "ee", "host": host, "peer_host": peer}


async def test_each_instance_says_whom_it_sees_and_a_one_way_break_shows(
    mesh: FakeRocketChat, exporter_for: Any
) -> None:
    run = await exporter_for(with_links(fast_config(mesh), "127.0.0.0/8"))
    samples = await run.wait_until(lambda s: len(series(s, LINK)) == 6, "six directed links")
    hosts = {i.instance_id: i.host for i in mesh.workspaces["ee"].instances}
    ports = {i.host: i.port for i in mesh.workspaces["ee"].instances}

    def link(a: str, b: str) -> float | None:
        labels = at(hosts[a], hosts[b]) | {"port": ports[hosts[a]], "peer_port": ports[hosts[b]]}
        return value(samples, LINK, **labels)

    assert link("ee-1", "ee-2") == 0  # the broken direction
    assert link("ee-2", "ee-1") == 1  # and back: one way only
    assert {link(a, b) for a, b in (("ee-0", "ee-1"), ("ee-0", "ee-2"), ("ee-1", "ee-0"))} == {1}
    # the answering instance's view says everyone is connected: only links show the break
    assert {v for k, v in samples.items() if k[0] == "rocketchat_instance_connected"} == {1.0}
    _, page, _ = await run.get("/workspace/ee")
    assert page.count("NO LINK (one-way: the peer sees it)") == 1
    assert "link broken: " in page  # the alert condition, named on the page
    promtool_check_metrics(await run.metrics())
    for instance in mesh.workspaces["ee"].instances:  # asked with the workspace's credentials
        assert mesh.workspaces["ee"].requests[f"{instance.instance_id}{PATH}"] >= 1


async def test_an_instance_outside_the_fence_is_never_asked_nor_given_credentials(
    mesh: FakeRocketChat, exporter_for: Any
) -> None:
    workspace = mesh.workspaces["ee"]
    outside = workspace.instances[2]
    run = await exporter_for(with_links(fast_config(mesh), "127.0.0.2/32", "127.0.0.3/32"))
    samples = await run.wait_until(lambda s: len(series(s, LINK)) == 4, "links of two")
    assert not series(samples, LINK, host=outside.host)
    await run.wait_until(lambda s: workspace.requests[f"ee-0{PATH}"] >= 3, "three rounds")
    assert workspace.requests[f"{outside.instance_id}{PATH}"] == 0  # never contacted
    _, page, _ = await run.get("/workspace/ee")
    assert "is outside allowed_networks" in page


async def test_an_answer_above_the_cap_loses_only_that_instances_view(
    mesh: FakeRocketChat, exporter_for: Any
) -> None:
    big = mesh.workspaces["ee"].instances[2]
    big.view_padding = 70_000  # above PROBE_MAX_BYTES (64 KiB)
    run = await exporter_for(with_links(fast_config(mesh), "127.0.0.0/8"))
    samples = await run.wait_until(lambda s: len(series(s, LINK)) == 4, "the other two views")
    assert not series(samples, LINK, host=big.host)
    assert value(samples, SUCCESS, workspace="ee", collector="links") == 1
    _, page, _ = await run.get("/workspace/ee")
    assert "too large" in page or "65536" in page


async def test_clusters_above_the_limit_and_servers_without_links_are_not_asked(
    exporter_for: Any,
) -> None:
    huge = mesh_workspace("huge", count=MAX_CLUSTER + 1, first=10)
    ce = mesh_workspace("ce", count=2, first=100)
    ce.shape = "B-ce"  # Community Edition: no links reported
    server = FakeRocketChat([huge, ce])
    await server.start()
    await start_health(server)
    try:
        run = await exporter_for(with_links(fast_config(server), "127.0.0.0/8"))
        samples = await run.wait_until(
            lambda s: (
                value(s, SUCCESS, workspace="huge", collector="links") == 1
                and value(s, SUCCESS, workspace="ce", collector="links") == 1
            ),
            "links judged",
        )
        assert not series(samples, LINK)
        asked = [k for w in (huge, ce) for k, n in w.requests.items() if k.endswith(PATH) and n]
        assert asked == []
        _, page, _ = await run.get("/workspace/huge")
        assert f"{MAX_CLUSTER + 1} instances: links are asked of at most {MAX_CLUSTER}" in page
        _, page, _ = await run.get("/workspace/ce")
        assert "does not report links" in page
    finally:
        await server.stop()


def test_links_needs_allowed_networks_and_at_least_30_seconds(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(
        "collectors: {links: true}\n"
        "workspaces:\n"
        "  - {name: a, url: 'https://a.example.com', auth: {user_id: u, token: t}}\n"
        "  - {name: b, url: 'https://b.example.com', auth: {user_id: u, token: t},\n"
        "     collectors: {links: {allowed_networks: [10.0.0.0/8], interval: 10s}}}\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.problems == [
        f"{path}: workspaces[0].collectors.links.allowed_networks: is required with the links "
        "collector: it sends the workspace's credentials to each instance's address (e.g. "
        "allowed_networks: [10.0.0.0/8])",
        f"{path}: workspaces[1].collectors.links.interval: must be at least 30s (more often "
        "disturbs the server, see docs/reference.md)",
    ]
