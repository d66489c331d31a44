"""What the operator is told about a broken workspace: a wrong URL is never green, a broken
workspace logs one line per change (not one per endpoint per poll), and a missing token file
fails only its workspace."""

from __future__ import annotations

import dataclasses
import logging
import re
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from test_cli import run_cli, write_config

from exporter.collecting.outcome import NOT_AVAILABLE
from exporter.collecting.registry import OPTIONAL
from exporter.demo.server import FakeRocketChat
from exporter.runtime.logbook import REPEAT_AFTER, Logbook

from conftest import fast_config, free_port, parse_exposition, series, value, wait_for

SUCCESS = "rocketchat_exporter_collector_success"
EVERY = tuple((name, 0.2) for name in OPTIONAL)


async def not_rocketchat() -> tuple[web.AppRunner, str]:
    """A web server that is not Rocket.Chat: an HTML page for the core routes, 404 elsewhere."""

    async def page(request: web.Request) -> web.Response:
        if request.path.endswith(("/instances.get", "/statistics.list")):
            return web.Response(text="<html>intranet portal</html>", content_type="text/html")
        return web.Response(status=404, text="<html>not found</html>", content_type="text/html")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", page)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, f"http://127.0.0.1:{port}"


async def test_a_wrong_url_fails_every_collector_instead_of_calling_them_not_available(
    fake: FakeRocketChat, exporter_for: Any
) -> None:
    runner, portal = await not_rocketchat()
    try:
        config = fast_config(fake)
        urls = {
            "old": fake.base_url + "/typo/",  # the Rocket.Chat host, a wrong path: 404 JSON
            "new": portal,  # not Rocket.Chat at all: HTML, 404 for the rest
        }
        config = dataclasses.replace(
            config,
            workspaces=tuple(
                dataclasses.replace(w, url=urls.get(w.name, w.url), collectors=EVERY)
                for w in config.workspaces
            ),
        )
        run = await exporter_for(config)

        def judged(samples: Any) -> bool:
            return all(
                value(samples, SUCCESS, workspace=name, collector=collector) is not None
                for name in ("old", "new", "strings")
                for collector in ("instances", "statistics", *OPTIONAL)
            )

        samples = await run.wait_until(judged, "every collector of every workspace judged")
        for name in ("old", "new"):
            assert value(samples, "rocketchat_up", workspace=name) == 0
            assert {
                s["collector"]: value(samples, SUCCESS, **s)
                for s in series(samples, SUCCESS, workspace=name)
            } == dict.fromkeys(("instances", "statistics", *OPTIONAL), 0.0)
            _, page, _ = await run.get(f"/workspace/{name}")
            assert NOT_AVAILABLE not in page and 'class="ok">ok' not in page
        # the control: a real Rocket.Chat (7.10) answers every collector
        assert value(samples, "rocketchat_up", workspace="strings") == 1
        assert value(samples, SUCCESS, workspace="strings", collector="licenses") == 1
        state = run.exporter.state.workspaces["old"]
        assert state.status["licenses.info"].last_reason == "http_4xx"
        assert "core endpoints fail too" in state.status["licenses.info"].last_error
        assert run.exporter.state.workspaces["new"].status["health"].last_reason in (
            "invalid_response",
            "http_4xx",
        )
    finally:
        await runner.cleanup()


async def test_a_broken_workspace_logs_one_line_over_ten_polls_and_one_when_it_recovers(
    fake: FakeRocketChat, exporter_for: Any, caplog: pytest.LogCaptureFixture
) -> None:
    broken = fake.workspaces["new"]
    config = fast_config(fake)
    config = dataclasses.replace(
        config,
        workspaces=tuple(dataclasses.replace(w, collectors=EVERY) for w in config.workspaces),
    )
    token = broken.token
    broken.token = "rotated-elsewhere"  # every request of the exporter now gets 401
    caplog.set_level(logging.INFO, logger="exporter")
    run = await exporter_for(config)
    await wait_for(
        lambda: broken.requests["instances.get"] >= 10, "ten polls of the broken workspace"
    )
    lines = [r for r in caplog.records if "workspace new" in r.getMessage()]
    warnings = [r for r in lines if r.levelno >= logging.WARNING]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]
    assert "failing (unauthorized)" in warnings[0].getMessage()
    assert token not in caplog.text
    # the fleet page shows the error once, naming the endpoints it hit
    _, page, _ = await run.get("/?q=new")
    row = next(r for r in page.split("<tr") if ">new<" in r)
    assert row.count('class="err"') == 1 and "instances.get, statistics.list" in row
    broken.token = token  # fixed: one line says so

    def recovered() -> bool:
        return any("workspace new: recovered" in r.getMessage() for r in caplog.records)

    await wait_for(recovered, "the recovery line")
    await wait_for(lambda: broken.requests["instances.get"] >= 20, "ten more polls")
    said = [r.getMessage() for r in caplog.records if "workspace new" in r.getMessage()]
    assert sum("recovered" in line for line in said) == 1
    assert sum("failing" in line for line in said) == 1


def test_the_logbook_repeats_an_unchanged_trouble_every_ten_minutes_and_a_new_reason_at_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = [0.0]
    book = Logbook(clock=lambda: now[0])
    caplog.set_level(logging.DEBUG, logger="exporter.poller")

    def warnings() -> list[str]:
        return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]

    for second in range(0, int(REPEAT_AFTER), 30):  # 20 polls of 2 endpoints in 10 minutes
        now[0] = second
        book.failed("prod", "instances.get", "timeout", "no answer within 5 s")
        book.failed("prod", "statistics.list", "timeout", "no answer within 5 s")
    assert len(warnings()) == 1
    now[0] = REPEAT_AFTER
    book.failed("prod", "instances.get", "timeout", "no answer within 5 s")
    assert len(warnings()) == 2 and "still failing (timeout)" in warnings()[-1]
    now[0] += 1
    book.failed("prod", "statistics.list", "connection", "refused")  # a new reason: news
    assert len(warnings()) == 3 and "failing (connection)" in warnings()[-1]
    book.succeeded("prod", "instances.get")
    book.succeeded("prod", "statistics.list")
    infos = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert infos == ["workspace prod: recovered (statistics.list answers again)"]
    book.failed("prod", "instances.get", "timeout", "again")  # a new trouble after recovery
    assert len(warnings()) == 4


async def test_a_missing_token_file_fails_its_workspace_and_not_the_exporter(
    fake: FakeRocketChat, tmp_path: Path
) -> None:
    path = write_config(tmp_path, fake)
    missing = tmp_path / "old.token"
    missing.unlink()
    code, out, err = await run_cli("--config", str(path), "--once")
    assert code == 1  # --once: not every workspace is up
    samples = parse_exposition(out)
    assert value(samples, "rocketchat_up", workspace="old") == 0
    assert value(samples, "rocketchat_up", workspace="new") == 1
    assert value(samples, "rocketchat_up", workspace="strings") == 1
    errors = series(samples, "rocketchat_exporter_poll_errors_total", workspace="old")
    assert {
        s["reason"] for s in errors if value(samples, "rocketchat_exporter_poll_errors_total", **s)
    } == {"unauthorized"}
    assert re.search(r"token_file: cannot read file .*old.token: No such file or directory", err)
    for workspace in fake.workspaces.values():
        assert workspace.token not in out + err
    code, _, err = await run_cli("--config", str(path), "--check-config")
    assert code == 2 and "old.token: No such file or directory" in err
