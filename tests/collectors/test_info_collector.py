"""The first optional collector, `info`: the running version from /api/info, never changing
rocketchat_up, configurable per workspace; rocketchat_exporter_collector_success for every
collector."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from exporter.config.load import load_config
from exporter.demo.server import FakeRocketChat

from conftest import fast_config, poll_errors, series, value
from faults import respond


async def test_the_running_version_comes_from_api_info_not_the_day_old_record(
    fake: FakeRocketChat, exporter_for: Any
) -> None:
    fake.workspaces["new"].running_version = "8.9.0"  # upgraded; the record still says 8.8.1
    run = await exporter_for(fast_config(fake))
    samples = await run.wait_until(
        lambda s: bool(series(s, "rocketchat_workspace_info", workspace="new", version="8.9.0")),
        "the live version",
    )
    assert len(series(samples, "rocketchat_workspace_info", workspace="new")) == 1
    for collector in ("instances", "statistics", "info"):
        labels = {"workspace": "new", "collector": collector}
        assert value(samples, "rocketchat_exporter_collector_success", **labels) == 1
    assert fake.workspaces["new"].requests["info"] >= 1
    _, page, _ = await run.get("/?q=new")
    assert "<bdi>8.9.0</bdi>" in page  # the status page shows the same running version


async def test_a_failing_or_anonymous_info_answer_never_changes_up(
    fake: FakeRocketChat, exporter_for: Any
) -> None:
    fake.workspaces["new"].overrides["info"] = respond(500, "<html>oops</html>")
    fake.workspaces["old"].overrides["info"] = respond(200, {"version": "4.8", "success": True})
    run = await exporter_for(fast_config(fake))
    success = "rocketchat_exporter_collector_success"
    samples = await run.wait_until(  # both workspaces' info polled (each after its core polls)
        lambda s: (
            poll_errors(s, "new", "info", "http_5xx") >= 1
            and value(s, success, workspace="old", collector="info") is not None
        ),
        "info failing for new, answered by old",
    )
    assert value(samples, "rocketchat_up", workspace="new") == 1
    assert value(samples, success, workspace="new", collector="info") == 0
    assert value(samples, success, workspace="new", collector="statistics") == 1
    # no live version: the statistics record's, as before the collector existed
    assert series(samples, "rocketchat_workspace_info", workspace="new", version="8.8.1")
    # "4.8" (anonymous, X.Y only) is not the running version either
    assert series(samples, "rocketchat_workspace_info", workspace="old", version="4.8.7")
    assert value(samples, success, workspace="old", collector="info") == 1


async def test_info_can_be_turned_off(fake: FakeRocketChat, exporter_for: Any) -> None:
    config = fast_config(fake)
    workspaces = tuple(dataclasses.replace(w, collectors=()) for w in config.workspaces)
    run = await exporter_for(dataclasses.replace(config, workspaces=workspaces))
    samples = await run.wait_until(
        lambda s: value(s, "rocketchat_up", workspace="new") == 1, "new up"
    )
    assert not series(samples, "rocketchat_exporter_collector_success", collector="info")
    assert all(w.requests["info"] == 0 for w in fake.workspaces.values())


def test_collectors_config_top_level_per_workspace_and_intervals(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(
        "collectors: {info: {enabled: true, interval: 2m}, licenses: false}\n"
        "workspaces:\n"
        "  - {name: a, url: 'https://a.example.com', auth: {user_id: u, token: t}}\n"
        "  - {name: b, url: 'https://b.example.com', auth: {user_id: u, token: t},\n"
        "     collectors: {info: false}}\n"
        "  - {name: c, url: 'https://c.example.com', auth: {user_id: u, token: t},\n"
        "     collectors: {info: true}}\n"
    )
    a, b, c = load_config(path).workspaces
    assert a.collectors == (("info", 120.0),)
    assert b.collectors == ()
    assert c.collectors == (("info", 120.0),)  # `true` keeps the top level's interval


async def test_an_optional_endpoint_the_version_lacks_is_not_available_not_an_error(
    fake: FakeRocketChat, exporter_for: Any
) -> None:
    fake.workspaces["new"].overrides["info"] = respond(404, {"success": False, "error": "nope"})
    run = await exporter_for(fast_config(fake))
    await run.wait_until(lambda s: fake.workspaces["new"].requests["info"] >= 2, "info asked twice")
    samples = await run.samples()
    success = "rocketchat_exporter_collector_success"
    assert value(samples, success, workspace="new", collector="info") == 1
    assert not series(samples, "rocketchat_exporter_poll_errors_total", endpoint="info")
    assert series(samples, "rocketchat_workspace_info", workspace="new", version="8.8.1")
    _, page, _ = await run.get("/workspace/new")
    assert "not available on this version" in page
