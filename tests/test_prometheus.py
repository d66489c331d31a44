"""A real Prometheus (Debian package) scrapes the exporter; every dashboard query and the
disconnected-instance alert are evaluated through its HTTP API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from test_dashboard_rules import RULES, panel_exprs, panels

from exporter.demo import FakeRocketChat, FakeWorkspace, make_statistics, respond

from conftest import Prometheus, fast_config, running_prometheus, three_workspaces, wait_for


@pytest.fixture
async def fleet() -> AsyncIterator[FakeRocketChat]:
    """The three test workspaces plus one whose statistics fail (so error panels have data)."""
    flaky = FakeWorkspace(name="flaky", shape="B", statistics=[make_statistics("7.0.0", 1e9)])
    flaky.instances = three_workspaces()[1].instances[:1]
    flaky.overrides["statistics.list"] = respond(503, "<html>maintenance</html>")
    server = FakeRocketChat([*three_workspaces(), flaky])
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def prometheus(
    fleet: FakeRocketChat, exporter_for: Any, tmp_path: Path
) -> AsyncIterator[Prometheus]:
    run = await exporter_for(fast_config(fleet))
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
    # uuid-new-3 and old's peer were never connected: silent, as for a deployment without links
    assert {a["labels"]["instance_id"] for a in disconnected} == {"uuid-new-2"}
    (alert,) = disconnected
    assert alert["labels"]["host"] == "10.1.0.2" and alert["labels"]["port"] == "3000"
    assert "10.1.0.2:3000" in alert["annotations"]["summary"]
