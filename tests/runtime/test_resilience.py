"""Every real-world failure of a Rocket.Chat server, for shape A ("old") and shape B ("new").

For each: the daemon keeps serving, only that workspace goes down, the error counter grows with
the right reason, one log line explains it, and the next good poll restores every series.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from typing import Any

import pytest

from exporter.demo.fleet import Handler
from exporter.demo.server import FakeRocketChat
from exporter.model.config import Config

from conftest import fast_config, fixture, free_port, poll_errors, series, value, wait_for
from faults import delayed, endless, hang, reset_mid_body, respond, truncated

SHAPES = ["old", "new"]  # shape A (4.x) and shape B (8.x)


CASES: list[tuple[str, str, Any, str]] = [
    ("http-500", "instances.get", lambda: respond(500, {"success": False}), "http_5xx"),
    (
        "http-502-html",
        "instances.get",
        lambda: respond(502, "<html>Bad Gateway</html>"),
        "http_5xx",
    ),
    (
        "200-html-login-page",
        "instances.get",
        lambda: respond(200, "<html><form>Sign in</form></html>"),
        "invalid_response",
    ),
    (
        "truncated-json",
        "instances.get",
        lambda: truncated(b'{"instances": [{"_id', 4000),
        "connection",
    ),
    ("reset-mid-body", "instances.get", lambda: reset_mid_body(), "connection"),
    (
        "instances-a-string",
        "instances.get",
        lambda: respond(200, {"instances": "many", "success": True}),
        "invalid_response",
    ),
    (
        "null-everywhere",
        "instances.get",
        lambda: respond(200, {"instances": [None, None], "success": None}),
        "invalid_response",
    ),
    (
        "numbers-as-objects",
        "statistics.list",
        lambda: respond(200, {"statistics": [{"createdAt": {"x": 1}}, 5]}),
        "invalid_response",
    ),
    ("endless-body", "instances.get", lambda: endless(), "too_large"),
    (
        "absurdly-deep-json",
        "instances.get",
        lambda: respond(200, b"[" * 100_000 + b"]" * 100_000),
        "invalid_response",
    ),
    (
        "declared-too-large",
        "statistics.list",
        lambda: respond(200, {"statistics": [], "pad": "x" * 300_000}),
        "too_large",
    ),
    ("hang", "instances.get", lambda: hang(), "timeout"),
    (
        "slow-beyond-timeout",
        "statistics.list",
        lambda: delayed(2.0, respond(200, {"statistics": []})),
        "timeout",
    ),
    ("401", "instances.get", lambda: respond(401, fixture("error-401.json")), "unauthorized"),
    (
        "401-legacy",
        "statistics.list",
        lambda: respond(401, fixture("error-401-legacy.json")),
        "unauthorized",
    ),
    ("403", "instances.get", lambda: respond(403, fixture("error-403.json")), "forbidden"),
    (
        "403-legacy",
        "instances.get",
        lambda: respond(403, fixture("error-403-legacy.json")),
        "forbidden",
    ),
    (
        "400-not-allowed",
        "statistics.list",
        lambda: respond(400, fixture("error-400-statistics-not-allowed.json")),
        "forbidden",
    ),
    (
        "429",
        "instances.get",
        lambda: respond(
            429,
            fixture("error-429.json"),
            headers={"X-RateLimit-Reset": str(int((time.time() + 0.5) * 1000))},
        ),
        "rate_limited",
    ),
    ("404", "statistics.list", lambda: respond(404, {"success": False}), "http_4xx"),
    (
        "redirect-to-login",
        "instances.get",
        lambda: respond(302, "", headers={"Location": "/login"}),
        "invalid_response",
    ),
]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize(
    ("case", "endpoint", "make_handler", "reason"), CASES, ids=[c[0] for c in CASES]
)
async def test_failure_is_reported_isolated_and_recovered(
    fake: FakeRocketChat,
    exporter_for: Any,
    caplog: pytest.LogCaptureFixture,
    shape: str,
    case: str,
    endpoint: str,
    make_handler: Any,
    reason: str,
) -> None:
    other = "new" if shape == "old" else "old"
    config = dataclasses.replace(fast_config(fake, timeout=0.5), max_response_bytes=256 * 1024)
    run = await exporter_for(config)
    await run.wait_until(
        lambda s: value(s, "rocketchat_up", workspace=shape) == 1, f"{shape} up first"
    )
    handler: Handler = make_handler()
    fake.workspaces[shape].overrides[endpoint] = handler
    caplog.set_level(logging.WARNING, logger="exporter")
    samples = await run.wait_until(
        lambda s: poll_errors(s, shape, endpoint, reason) >= 1, f"{reason} counted for {shape}"
    )
    assert value(samples, "rocketchat_up", workspace=shape) == 0
    assert value(samples, "rocketchat_up", workspace=other) == 1
    if endpoint == "instances.get":
        assert not series(samples, "rocketchat_instance_info", workspace=shape)
    else:
        assert value(samples, "rocketchat_workspace_users", workspace=shape) is None
    other_reasons = [
        labels["reason"]
        for labels in series(samples, "rocketchat_exporter_poll_errors_total", workspace=shape)
        if labels["reason"] != reason
    ]
    assert other_reasons == []
    lines = [r.getMessage() for r in caplog.records if f"workspace {shape}:" in r.getMessage()]
    assert any(f"({reason})" in line for line in lines), lines
    status = run.exporter.state.workspaces[shape].status[endpoint]
    assert status.last_reason == reason

    del fake.workspaces[shape].overrides[endpoint]
    samples = await run.wait_until(
        lambda s: value(s, "rocketchat_up", workspace=shape) == 1, f"{shape} recovered"
    )
    assert value(samples, "rocketchat_instances", workspace=shape) in (2, 3)
    assert value(samples, "rocketchat_workspace_users", workspace=shape) is not None


def point_at(config: Config, name: str, url: str) -> Config:
    workspaces = tuple(
        dataclasses.replace(w, url=url) if w.name == name else w for w in config.workspaces
    )
    return dataclasses.replace(config, workspaces=workspaces)


@pytest.mark.parametrize(
    ("url", "what"),
    [
        ("http://127.0.0.1:{free port}", "connection refused"),
        ("http://rocketchat.invalid", "DNS failure"),
    ],
)  # the port is chosen in the test: the ids must be the same in every xdist worker
async def test_unreachable_server_counts_connection_errors(
    fake: FakeRocketChat, exporter_for: Any, url: str, what: str
) -> None:
    url = url.replace("{free port}", str(free_port()))
    run = await exporter_for(point_at(fast_config(fake), "old", url))
    # (before /ready a scrape may show old's error before new's first poll is in)
    samples = await run.wait_until(
        lambda s: (
            poll_errors(s, "old", "instances.get", "connection") >= 1
            and value(s, "rocketchat_up", workspace="new") is not None
        ),
        what,
    )
    assert value(samples, "rocketchat_up", workspace="old") == 0
    assert value(samples, "rocketchat_up", workspace="new") == 1
    status = run.exporter.state.workspaces["old"].status["instances.get"]
    assert "resolve" in status.last_error if "DNS" in what else "connect" in status.last_error


async def test_repeated_identical_failures_are_logged_once(
    fake: FakeRocketChat, exporter_for: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="exporter")
    fake.workspaces["new"].overrides["instances.get"] = respond(500, {})
    run = await exporter_for(fast_config(fake))
    await run.wait_until(
        lambda s: poll_errors(s, "new", "instances.get", "http_5xx") >= 5, "five failures"
    )
    warnings = [r for r in caplog.records if "workspace new: failing (http_5xx)" in r.getMessage()]
    assert len(warnings) == 1


async def test_a_rate_limit_pause_lasts_at_most_a_minute_whatever_the_reset_says(
    fake: FakeRocketChat, exporter_for: Any
) -> None:
    """Rocket.Chat's default window is 60 s: a reset an hour (or a year) away is a broken or
    hostile header, and must not silence the workspace for that long."""
    headers = {"X-RateLimit-Reset": str(int((time.time() + 3600) * 1000))}
    fake.workspaces["new"].overrides["instances.get"] = respond(
        429, fixture("error-429.json"), headers=headers
    )
    run = await exporter_for(fast_config(fake))
    await run.wait_until(
        lambda s: poll_errors(s, "new", "instances.get", "rate_limited") == 1, "a 429 counted"
    )
    schedule = run.exporter.poller.schedules[("new", "instances.get")]
    assert 55 < schedule.not_before - time.time() <= 61


async def test_rate_limited_endpoint_waits_until_the_reset_time(
    fake: FakeRocketChat, exporter_for: Any
) -> None:
    workspace = fake.workspaces["new"]
    times: list[float] = []
    reset_at = 0.0
    normal = respond(200, workspace.instances_body())

    async def limited(request: Any) -> Any:
        nonlocal reset_at
        times.append(time.time())
        if len(times) == 1:
            reset_at = time.time() + 1.5
            headers = {
                "X-RateLimit-Limit": "10",
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset": str(int(reset_at * 1000)),  # epoch milliseconds
            }
            return await respond(429, fixture("error-429.json"), headers=headers)(request)
        return await normal(request)

    workspace.overrides["instances.get"] = limited
    run = await exporter_for(fast_config(fake))  # polls every 0.2 s
    await wait_for(lambda: len(times) >= 2, "the request after the rate-limit window")
    assert times[1] >= reset_at - 0.01
    samples = await run.wait_until(
        lambda s: value(s, "rocketchat_up", workspace="new") == 1, "new up after the window"
    )
    assert poll_errors(samples, "new", "instances.get", "rate_limited") == 1
    # the statistics endpoint of the same workspace was not held back
    assert workspace.requests["statistics.list"] >= 3


async def test_nearly_spent_budget_slows_down_before_a_429(
    fake: FakeRocketChat, exporter_for: Any
) -> None:
    workspace = fake.workspaces["new"]
    times: list[float] = []
    reset_at = time.time() + 1.5
    body = workspace.instances_body()

    async def budget(request: Any) -> Any:
        times.append(time.time())
        remaining = "0" if len(times) == 1 else "9"
        headers = {
            "X-RateLimit-Remaining": remaining,
            "X-RateLimit-Reset": str(int(reset_at * 1000)),
        }
        return await respond(200, body, headers=headers)(request)

    workspace.overrides["instances.get"] = budget
    await exporter_for(fast_config(fake))
    await wait_for(lambda: len(times) >= 2, "a second request")
    assert times[1] >= reset_at - 0.01
    assert workspace.requests["instances.get"] == len(times)


async def test_429_without_reset_header_backs_off_exponentially(
    fake: FakeRocketChat, exporter_for: Any
) -> None:
    fake.workspaces["new"].overrides["instances.get"] = respond(429, fixture("error-429.json"))
    run = await exporter_for(fast_config(fake))
    await run.wait_until(
        lambda s: poll_errors(s, "new", "instances.get", "rate_limited") >= 1, "a 429 counted"
    )
    schedule = run.exporter.poller.schedules[("new", "instances.get")]
    assert schedule.backoff_steps == 1
    assert schedule.not_before - time.time() > 10  # 15 s (+ jitter), far beyond the 0.2 s interval
    await run.exporter.poller.poll("new", "instances.get")
    assert schedule.backoff_steps == 2
    assert schedule.not_before - time.time() > 25
    assert fake.workspaces["new"].requests["instances.get"] == 2


async def test_slow_answer_within_the_timeout_is_a_success(
    fake: FakeRocketChat, exporter_for: Any
) -> None:
    fake.workspaces["new"].latency = 0.3
    run = await exporter_for(fast_config(fake, timeout=2.0))
    samples = await run.wait_until(
        lambda s: value(s, "rocketchat_up", workspace="new") == 1, "slow workspace up"
    )
    duration = value(
        samples,
        "rocketchat_exporter_poll_duration_seconds",
        workspace="new",
        endpoint="instances.get",
    )
    assert duration is not None and duration >= 0.3
    assert not series(samples, "rocketchat_exporter_poll_errors_total", workspace="new")


async def test_an_internal_error_drops_the_series_and_polling_goes_on(
    fake: FakeRocketChat, exporter_for: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug (simulated: the parser raising something unexpected) must not stop the poll loop
    nor leave the last values on /metrics."""
    run = await exporter_for(fast_config(fake))
    await run.wait_until(lambda s: value(s, "rocketchat_up", workspace="new") == 1, "new up")
    import exporter.collectors.instances

    original = exporter.collectors.instances.parse_instances

    def broken(body: Any) -> Any:
        raise RuntimeError("a bug")

    monkeypatch.setattr(exporter.collectors.instances, "parse_instances", broken)
    samples = await run.wait_until(
        lambda s: value(s, "rocketchat_up", workspace="new") == 0, "new down on the bug"
    )
    assert not series(samples, "rocketchat_instance_info", workspace="new")
    monkeypatch.setattr(exporter.collectors.instances, "parse_instances", original)
    await run.wait_until(lambda s: value(s, "rocketchat_up", workspace="new") == 1, "recovered")


async def test_a_poll_loop_cancelled_as_its_core_polls_end_still_stops() -> None:
    """The optional collectors wait for the core polls; a reload or stop cancelling that wait
    in the very iteration the event is set must not be swallowed (asyncio.wait_for in 3.11
    does that: the loop then outlived its workspace and stop() hung)."""
    from exporter.runtime.state import WorkspaceState

    workspace = WorkspaceState("w", ("instances.get",))

    async def optional_loop() -> None:
        await workspace.wait_for_core(10)
        await asyncio.sleep(3600)

    for _ in range(20):
        workspace.core_polled.clear()
        task = asyncio.create_task(optional_loop())
        await asyncio.sleep(0)  # waiting for the event
        workspace.core_polled.set()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            async with asyncio.timeout(5):
                await task
