"""The support window end to end: a simulated 6.5+ server's /api/info (a JWT built as the server
ships it) -> the series, the fleet page (days left, the alert named) and the workspace page
(date, days left, the oldest apps accepted); an unreadable token is a note, not a failure."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from exporter.demo.fleet import FakeInstance, FakeWorkspace, make_statistics
from exporter.demo.server import FakeRocketChat

from conftest import fast_config, value

END = "rocketchat_workspace_version_support_end_timestamp_seconds"
MINIMUM = "rocketchat_workspace_client_minimum_info"


def workspace(name: str, version: str, days: float | None) -> FakeWorkspace:
    return FakeWorkspace(
        name=name,
        instances=[FakeInstance(f"{name}-1", "10.0.0.1", local=True)],
        statistics=[make_statistics(version, time.time() - 3600, 10)],
        support_days=days,
    )


@pytest.fixture
async def fleet() -> AsyncIterator[FakeRocketChat]:
    server = FakeRocketChat(
        [
            workspace("soon", "7.10.2", 12),
            workspace("ended", "7.11.0", -20),
            workspace("fine", "8.8.1", 365),
            workspace("old", "6.4.0", 365),  # before 6.5: no support list
            workspace("garbled", "8.8.1", 365),
        ]
    )

    async def garbled(request: web.Request) -> web.StreamResponse:
        body = {"version": "8.8", "supportedVersions": {"signed": "not.a-token"}, "success": True}
        return web.json_response(body)

    server.workspaces["garbled"].overrides["info"] = garbled
    await server.start()
    yield server
    await server.stop()


async def test_support_window_series_and_pages(fleet: FakeRocketChat, exporter_for: Any) -> None:
    run = await exporter_for(fast_config(fleet))
    samples = await run.wait_until(
        lambda s: all(value(s, END, workspace=w) is not None for w in ("soon", "ended", "fine")),
        "three support windows",
    )
    now = time.time()
    assert value(samples, END, workspace="soon") == pytest.approx(now + 12 * 86400, abs=120)
    assert value(samples, END, workspace="ended") == pytest.approx(now - 20 * 86400, abs=120)
    assert value(samples, END, workspace="old") is None  # before 6.5
    assert value(samples, END, workspace="garbled") is None
    assert value(samples, MINIMUM, workspace="soon", desktop="3.9.6", mobile="4.39.0") == 1
    assert value(samples, MINIMUM, workspace="old", desktop="3.9.6", mobile="4.39.0") is None
    assert value(samples, "rocketchat_up", workspace="garbled") == 1  # never a failed poll
    success = "rocketchat_exporter_collector_success"
    assert value(samples, success, workspace="garbled", collector="info") == 1

    _, fleet_page, _ = await run.get("/")
    assert "support ends in 12 days" in fleet_page
    assert "apps refuse it: support ended" in fleet_page
    assert "RocketChatVersionSupportEndingSoon" in fleet_page
    assert "RocketChatVersionSupportEnded" in fleet_page
    assert "support ends in" not in fleet_page.split("/workspace/fine")[1].split("</tr>")[0]

    _, soon, _ = await run.get("/workspace/soon")
    assert "<h3>Support window</h3>" in soon
    assert "(12 days left)" in soon and "desktop 3.9.6, mobile 4.39.0" in soon
    assert "RocketChatVersionSupportEndingSoon" in soon
    _, ended, _ = await run.get("/workspace/ended")
    assert "ended 20 days ago (the apps refuse it)" in ended
    _, garbled, _ = await run.get("/workspace/garbled")
    assert "supportedVersions cannot be read (not three parts): no support window" in garbled
