"""A real Prometheus (Debian package) scrapes the exporter; every dashboard query and the
disconnected-instance alert are evaluated through its HTTP API."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from test_dashboard_rules import RULES, panel_exprs, panels

from exporter.collecting.registry import OPTIONAL
from exporter.demo.collectors import enterprise_license
from exporter.demo.fleet import FakeInstance, FakeWorkspace, make_statistics
from exporter.demo.server import FakeRocketChat, start_health

from conftest import Prometheus, fast_config, running_prometheus, three_workspaces, wait_for
from faults import respond


@pytest.fixture
async def fleet() -> AsyncIterator[FakeRocketChat]:
    """The three test workspaces, one whose statistics fail (so error panels have data) and an
    Enterprise cluster with every collector on, each instance answering health at 127.0.0.N."""
    flaky = FakeWorkspace(name="flaky", shape="B", statistics=[make_statistics("7.0.0", 1e9)])
    flaky.instances = three_workspaces()[1].instances[:1]
    flaky.overrides["statistics.list"] = respond(503, "<html>maintenance</html>")
    cluster = FakeWorkspace(
        name="cluster",
        instances=[
            FakeInstance("cl-1", "127.0.0.8", local=True),
            FakeInstance("cl-2", "127.0.0.9", health="unhealthy"),
        ],
        statistics=[make_statistics("7.12.0", time.time() - 3600, 400)],
        max_active_users=400,
        license=enterprise_license(400, time.time() + 90 * 86400, modules=("auditing",)),
        agents={"available": 1, "away": 0, "busy": 1, "offline": 3},
        chats={"open": 2, "closed": 10, "queued": 1, "onhold": 0},
    )
    server = FakeRocketChat([*three_workspaces(), flaky, cluster])
    await server.start()
    await start_health(server, only={"cluster"})
    yield server
    await server.stop()


@pytest.fixture
async def prometheus(
    fleet: FakeRocketChat, exporter_for: Any, tmp_path: Path
) -> AsyncIterator[Prometheus]:
    fast = fast_config(fleet)
    every = tuple((name, 0.2) for name in OPTIONAL)
    run = await exporter_for(
        dataclasses.replace(
            fast,
            extra_statistics=("integrations.totalWithScriptEnabled",),  # the Extra panel
            workspaces=tuple(
                dataclasses.replace(w, collectors=every) if w.name == "cluster" else w
                for w in fast.workspaces
            ),
        )
    )
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(RULES)],
        "scrape_configs": [
            {
                "job_name": "rocketchat-exporter",
                "static_configs": [{"targets": [run.exporter.url.removeprefix("http://")]}],
            }
        ],
    }
    async with running_prometheus(config, tmp_path) as server:
        yield server


def substitute(expr: str) -> str:
    """The dashboard's variables as Grafana would fill them with "All" selected."""
    return expr.replace("$workspace", ".*").replace("$__rate_interval", "1m")


async def test_every_dashboard_query_returns_data_and_the_disconnect_alert_goes_pending(
    prometheus: Prometheus, fleet: FakeRocketChat
) -> None:
    async def scraped_a_few_times() -> bool:
        result = await prometheus.query('count_over_time(rocketchat_up{workspace="new"}[1m])')
        errors = await prometheus.query("rocketchat_exporter_poll_errors_total")
        return bool(result) and float(result[0]["value"][1]) >= 4 and bool(errors)

    await wait_for(scraped_a_few_times, "four scrapes of the exporter", deadline=60)
    # the dashboard's workspace variable: label_values(rocketchat_up, workspace)
    params = {"match[]": "rocketchat_up"}
    async with prometheus.session.get(
        f"{prometheus.url}/api/v1/label/workspace/values", params=params
    ) as resp:
        assert sorted((await resp.json())["data"]) == sorted(fleet.workspaces)
    empty = []
    for title, expr in panel_exprs():
        if not await prometheus.query(substitute(expr)):
            empty.append((title, expr))
    assert empty == []

    # on a healthy workspace the error panels show 0, not "No data"
    for title, expr in panel_exprs():
        if "poll_errors_total" in expr:
            healthy = expr.replace("$workspace", "old").replace("$__rate_interval", "1m")
            values = {float(r["value"][1]) for r in await prometheus.query(healthy)}
            assert values == {0.0}, title
    # the Instances table lists each instance once
    (table,) = [p for p in panels() if p["title"] == "Instances" and p["type"] == "table"]
    rows = await prometheus.query(substitute(table["targets"][0]["expr"]))
    keys = [(r["metric"]["workspace"], r["metric"]["instance_id"]) for r in rows]
    assert len(keys) == len(set(keys)) == len(await prometheus.query("rocketchat_instance_info"))

    # uuid-new-2 was connected in every scrape so far; now the cluster loses it
    fleet.workspaces["new"].instances[1].connected = False

    async def alert_active() -> bool:
        return any(
            alert["labels"]["alertname"] == "RocketChatInstanceDisconnected"
            and alert["labels"].get("instance_id") == "uuid-new-2"
            and alert["state"] in ("pending", "firing")
            for alert in await prometheus.alerts()
        )

    await wait_for(alert_active, "RocketChatInstanceDisconnected pending", deadline=60)
    alerts = await prometheus.alerts()
    disconnected = [
        a for a in alerts if a["labels"]["alertname"] == "RocketChatInstanceDisconnected"
    ]
    # uuid-new-3 and old's peer were disconnected from the first scrape on: they alert too
    # (a server that does not report links has no rocketchat_instance_connected at all)
    assert {a["labels"]["instance_id"] for a in disconnected} == {
        "uuid-new-2",
        "uuid-new-3",
        "oldPeerId00000002",
    }
    (alert,) = [a for a in disconnected if a["labels"]["instance_id"] == "uuid-new-2"]
    assert alert["labels"]["host"] == "10.1.0.2" and alert["labels"]["port"] == "3000"
    assert "10.1.0.2:3000" in alert["annotations"]["summary"]

    # the health collector's alert: cl-2's /livez says unavailable, cl-1's ok
    async def unhealthy_pending() -> bool:
        return any(
            a["labels"]["alertname"] == "RocketChatInstanceUnhealthy"
            for a in await prometheus.alerts()
        )

    await wait_for(unhealthy_pending, "RocketChatInstanceUnhealthy pending", deadline=60)
    unhealthy = [
        a["labels"]["instance_id"]
        for a in await prometheus.alerts()
        if a["labels"]["alertname"] == "RocketChatInstanceUnhealthy"
    ]
    assert unhealthy == ["cl-2"]
