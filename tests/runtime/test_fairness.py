"""No workspace or collector holds every request slot: a workspace whose 200 instances accept
health probes and never answer neither delays another workspace's verdict nor makes its own
health poll last longer than one timeout (rocketchat/transport.py shares, collectors/health.py)."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from exporter.demo.fleet import FakeInstance, FakeWorkspace, make_statistics
from exporter.demo.landscape import config_for
from exporter.demo.server import FakeRocketChat
from exporter.rocketchat.transport import shares

from conftest import series, value
from faults import delayed, respond

HOSTILE_INSTANCES = 200


@pytest.fixture
async def black_hole() -> AsyncIterator[int]:
    """A port that accepts connections and never answers (nor closes them)."""
    held: list[asyncio.StreamWriter] = []

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    yield int(server.sockets[0].getsockname()[1])
    server.close()
    for writer in held:
        writer.close()


async def test_hanging_health_probes_of_one_workspace_do_not_delay_another(
    black_hole: int, exporter_for: Any
) -> None:
    created = 1_750_000_000.0
    hostile = FakeWorkspace(
        name="hostile",
        shape="B",
        instances=[
            FakeInstance(f"hang-{i}", "127.0.0.1", port=str(black_hole), local=i == 0)
            for i in range(HOSTILE_INSTANCES)
        ],
        statistics=[make_statistics("8.8.1", created, 10)],
    )
    good = FakeWorkspace(
        name="good",
        shape="B",
        instances=[FakeInstance("good-1", "10.9.0.1", local=True)],
        statistics=[make_statistics("8.8.1", created, 10)],
    )
    fake = FakeRocketChat([hostile, good])
    await fake.start()
    try:
        config = config_for(fake, poll_interval=0.5, statistics_interval=0.5, timeout=1.0)
        config = dataclasses.replace(
            config,
            max_concurrency=8,
            workspaces=tuple(
                dataclasses.replace(w, collectors=(("health", 0.5),) if w.name == "hostile" else ())
                for w in config.workspaces
            ),
        )
        run = await exporter_for(config)
        await run.wait_until(
            lambda s: (
                len(series(s, "rocketchat_instance_healthy", workspace="hostile"))
                == HOSTILE_INSTANCES
                and value(s, "rocketchat_up", workspace="good") == 1
            ),
            "a health verdict for the hostile workspace, and good up",
        )
        # every hostile probe hangs: their budget is full all the time from now on
        _, probes, per_workspace = shares(8)
        assert per_workspace < probes < HOSTILE_INSTANCES
        good.overrides["instances.get"] = respond(500, {})
        failed_at = time.monotonic()
        samples = await run.wait_until(
            lambda s: value(s, "rocketchat_up", workspace="good") == 0, "good reported down"
        )
        # within poll_interval + timeout (1.5 s), with room for a busy machine; before the
        # shares, it waited behind every hanging probe: 200 / 8 slots x 1 s = 25 s
        assert time.monotonic() - failed_at < 6
        health_poll = value(
            samples,
            "rocketchat_exporter_poll_duration_seconds",
            workspace="hostile",
            endpoint="health",
        )
        assert health_poll is not None and health_poll < 1.0 + 0.5  # one timeout, not 200 / 2
        verdicts = [
            value(samples, "rocketchat_instance_healthy", **labels)
            for labels in series(samples, "rocketchat_instance_healthy", workspace="hostile")
        ]
        assert len(verdicts) == HOSTILE_INSTANCES and set(verdicts) == {0.0}
    finally:
        await fake.stop()


async def test_a_fleets_first_round_waits_for_slots_without_timing_out(exporter_for: Any) -> None:
    """Every workspace starts at once: 40 workspaces x 2 core requests behind 2 slots at
    100 ms each take 4 s, more than two timeouts (1.5 s: room for a loaded machine); a first
    poll has no previous result to be late on, so its wait for a slot is not timed
    (client.FIRST_POLL) and none of them times out."""
    created = 1_750_000_000.0
    fleet = [
        FakeWorkspace(
            name=f"w{i:02d}",
            shape="B",
            instances=[FakeInstance(f"i{i}", "10.0.0.1", local=True)],
            statistics=[make_statistics("8.8.1", created, 10)],
        )
        for i in range(40)
    ]
    fake = FakeRocketChat(fleet)
    await fake.start()
    try:
        for workspace in fleet:
            for endpoint, body in (
                ("instances.get", workspace.instances_body()),
                ("statistics.list", {"statistics": [workspace.statistics[0]], "success": True}),
            ):
                workspace.overrides[endpoint] = delayed(0.1, respond(200, body))
        config = config_for(fake, poll_interval=30, statistics_interval=30, timeout=1.5)
        config = dataclasses.replace(
            config,
            max_concurrency=2,
            workspaces=tuple(dataclasses.replace(w, collectors=()) for w in config.workspaces),
        )
        run = await exporter_for(config)
        samples = await run.wait_until(
            lambda s: (
                len(series(s, "rocketchat_up")) == 40
                and all(value(s, "rocketchat_up", workspace=w.name) is not None for w in fleet)
            ),
            "every workspace's first round",
        )
    finally:
        await fake.stop()
    assert [w.name for w in fleet if value(samples, "rocketchat_up", workspace=w.name) != 1] == []
