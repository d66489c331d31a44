"""The optional collectors end to end over loopback: licenses (on by default), health (each
instance at its own 127.0.0.N listener) and omnichannel — version gating, permission failures
that never change rocketchat_up, and the request budget against Rocket.Chat's rate limiter."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from exporter.collecting.registry import COLLECTORS, enabled, endpoints
from exporter.collectors import health
from exporter.collectors.licenses import PRIVILEGED
from exporter.config.load import load_config
from exporter.demo.collectors import enterprise_license
from exporter.demo.fleet import FakeInstance, FakeWorkspace, make_statistics
from exporter.demo.server import FakeRocketChat, start_health
from exporter.model.config import Config, ConfigError

from conftest import fast_config, poll_errors, promtool_check_metrics, series, value, wait_for

SUCCESS = "rocketchat_exporter_collector_success"
DAY = 86400.0


def at(samples: Any, name: str, **labels: str) -> float | None:
    """The value of the one series of `name` whose labels include `labels` (None: none)."""
    found = series(samples, name, **labels)
    assert len(found) <= 1, found
    return value(samples, name, **found[0]) if found else None


def with_collectors(config: Config, **collectors: float | None) -> Config:
    """Every workspace polls these optional collectors (name -> interval) and no others."""
    chosen = tuple(collectors.items())
    return dataclasses.replace(
        config,
        workspaces=tuple(dataclasses.replace(w, collectors=chosen) for w in config.workspaces),
    )


# -- licenses --------------------------------------------------------------------------------


async def test_licenses_export_seats_limits_prevented_actions_trial_modules_and_expiry(
    fake: FakeRocketChat, exporter_for: Any
) -> None:
    new = fake.workspaces["new"]  # 8.8.1, 1843 users of whom 1659 active
    expires = time.time() + 10 * DAY
    new.max_active_users = 1700
    new.license = enterprise_license(
        1659, expires, trial=True, modules=("auditing", "livechat-enterprise")
    )
    run = await exporter_for(fast_config(fake))
    samples = await run.wait_until(  # both of its requests answered
        lambda s: value(s, SUCCESS, workspace="new", collector="licenses") == 1, "licenses"
    )
    assert value(samples, "rocketchat_license_seats_used", workspace="new") == 1659
    assert value(samples, "rocketchat_license_seats_max", workspace="new") == 1700
    assert value(samples, "rocketchat_license_limit", workspace="new", kind="activeUsers") == 1659
    assert value(samples, "rocketchat_license_usage", workspace="new", kind="activeUsers") == 1659
    # -1 = unlimited: no limit series, but the live counter is still there
    assert not series(samples, "rocketchat_license_limit", workspace="new", kind="guestUsers")
    assert value(samples, "rocketchat_license_usage", workspace="new", kind="guestUsers") == 0
    prevented = "rocketchat_license_action_prevented"
    assert value(samples, prevented, workspace="new", kind="activeUsers") == 1
    assert value(samples, prevented, workspace="new", kind="guestUsers") == 0
    assert value(samples, "rocketchat_license_trial", workspace="new") == 1
    modules = {s["module"] for s in series(samples, "rocketchat_license_module_info")}
    assert modules == {"auditing", "livechat-enterprise"}
    expiry = value(samples, "rocketchat_license_expiry_timestamp_seconds", workspace="new")
    assert expiry == pytest.approx(expires, abs=0.01)
    assert value(samples, SUCCESS, workspace="new", collector="licenses") == 1
    promtool_check_metrics(await run.metrics())
    _, page, _ = await run.get("/workspace/new")
    assert "1659 / 1700" in page and "auditing, livechat-enterprise" in page
    assert "(in 10.0 d)" in page or "(in 9.9 d)" in page


async def test_licenses_on_community_old_versions_and_without_privilege(
    fake: FakeRocketChat, exporter_for: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """strings (7.10, Community): no seat limit; old (4.8): licenses.info is not available on
    this version — seats still come, nothing counts as an error; without view-privileged-setting
    the limits and expiry are absent, the rest is there."""
    fake.workspaces["strings"].privileged = False
    caplog.set_level(logging.INFO, logger="exporter")
    run = await exporter_for(fast_config(fake))
    samples = await run.wait_until(
        lambda s: all(
            value(s, SUCCESS, workspace=w, collector="licenses") == 1
            for w in ("old", "new", "strings")
        ),
        "licenses everywhere",
    )
    assert value(samples, "rocketchat_license_seats_used", workspace="old") == 576
    assert not series(samples, "rocketchat_license_seats_max")  # null: no seat limit
    assert not series(samples, "rocketchat_license_trial", workspace="old")
    assert not series(samples, "rocketchat_exporter_poll_errors_total")
    # Community as an admin sees it: privateApps max 3, marketplaceApps max 5, the rest -1
    limits = {s["kind"]: s for s in series(samples, "rocketchat_license_limit", workspace="new")}
    assert set(limits) == {"privateApps", "marketplaceApps"}
    assert not series(samples, "rocketchat_license_limit", workspace="strings")
    assert value(samples, "rocketchat_license_trial", workspace="strings") == 0
    _, page, _ = await run.get("/workspace/old")
    assert "licenses.info" in page and "not available on this version" in page
    _, page, _ = await run.get("/workspace/strings")
    # said on the page (the license and the endpoint's row) and once in the log
    assert page.count("grant the exporter&#39;s user view-privileged-setting") >= 2
    assert "RocketChatLicenseExpiringSoon cannot fire" in page
    await run.wait_until(
        lambda s: fake.workspaces["strings"].requests["licenses.info"] >= 3, "three polls"
    )
    said = [r.getMessage() for r in caplog.records if "view-privileged-setting" in r.getMessage()]
    assert said == [f"workspace strings: licenses.info: {PRIVILEGED}"]
    _, page, _ = await run.get("/workspace/new")  # an admin's view: nothing missing
    assert "view-privileged-setting (Rocket" not in page


# -- start-up order ---------------------------------------------------------------------------


async def test_optional_collectors_start_after_the_fleets_first_core_round(
    fake: FakeRocketChat, exporter_for: Any
) -> None:
    """/ready is the core round: no optional request competes with it, even from workspaces
    whose own core polls are long done, until the last workspace's core polls ended."""
    gate = asyncio.Event()

    async def held_instances(request: web.Request) -> web.StreamResponse:
        await gate.wait()
        return web.json_response(fake.workspaces["old"].instances_body())

    fake.workspaces["old"].overrides["instances.get"] = held_instances
    run = await exporter_for(with_collectors(fast_config(fake), licenses=0.2))
    optional = ("licenses.maxActiveUsers", "licenses.info")
    # "new" polls its core endpoints again and again (every 0.2 s) while "old" is held
    await wait_for(lambda: fake.workspaces["new"].requests["instances.get"] >= 3, "new polled")
    assert not run.exporter.state.ready
    assert all(w.requests[e] == 0 for w in fake.workspaces.values() for e in optional)
    gate.set()
    await wait_for(
        lambda: all(w.requests["licenses.info"] >= 1 for w in fake.workspaces.values()),
        "every workspace's licenses polled once the core round is in",
    )


# -- omnichannel -----------------------------------------------------------------------------


async def test_omnichannel_agents_and_chats_and_a_missing_permission(
    fake: FakeRocketChat, exporter_for: Any
) -> None:
    new, strings = fake.workspaces["new"], fake.workspaces["strings"]
    new.agents = {"available": 3, "away": 1, "busy": 2, "offline": 7}
    new.chats = {"open": 12, "closed": 400, "queued": 5, "onhold": 2}
    strings.livechat_manager = False
    config = with_collectors(fast_config(fake), omnichannel=0.2)
    run = await exporter_for(config)
    samples = await run.wait_until(
        lambda s: (
            poll_errors(s, "strings", "omnichannel.agents-status", "forbidden") >= 1
            and value(s, "rocketchat_omnichannel_chats", workspace="new", state="open") == 12
        ),
        "omnichannel answered and refused",
    )
    agents = "rocketchat_omnichannel_agents"
    for status, count in new.agents.items():
        assert value(samples, agents, workspace="new", status=status) == count
    # no agents at all: {"success": true} alone means zeros
    assert value(samples, agents, workspace="old", status="available") == 0
    chats = "rocketchat_omnichannel_chats"
    assert value(samples, chats, workspace="new", state="queued") == 5
    assert value(samples, chats, workspace="new", state="onhold") == 2
    assert not series(samples, chats, state="closed")
    # a missing permission: collector 0, error counted, never rocketchat_up 0
    assert value(samples, SUCCESS, workspace="strings", collector="omnichannel") == 0
    assert value(samples, "rocketchat_up", workspace="strings") == 1
    assert not series(samples, agents, workspace="strings")
    _, page, _ = await run.get("/workspace/strings")
    assert "lacks the permission view-livechat-manager" in page  # the endpoint's error
    _, page, _ = await run.get("/workspace/new")
    assert "agents: available 3, away 1, busy 2, offline 7" in page
    # the fleet overview counts it and filters to it, without calling the workspace down
    _, overview, _ = await run.get("/")
    assert "<b>1</b> collector failing</a>" in overview  # the alert's chip, one workspace
    _, only, _ = await run.get("/?state=collector")
    assert "collector failing: <bdi>omnichannel</bdi>" not in only
    assert "<bdi>collector failing: omnichannel</bdi>" in only
    assert ">strings</bdi>" in only and ">new</bdi>" not in only and ">old</bdi>" not in only
    # since 1970 until now: the current numbers, never a window that loses older chats
    assert new.requests["livechat/analytics/dashboards/charts/chats"] >= 1


# -- health ----------------------------------------------------------------------------------


def health_workspaces() -> list[FakeWorkspace]:
    """Each instance on its own loopback address (127.0.0.N): a 7.11 cluster with one process
    that stopped answering, a 7.10 cluster with one whose realtime data stopped, and a 5.2
    server that has no health route."""
    created = time.time() - DAY
    return [
        FakeWorkspace(
            name="live",
            instances=[
                FakeInstance("live-1", "127.0.0.2", local=True, heap_ratio=0.5, lag_ms=20),
                FakeInstance("live-2", "127.0.0.3", heap_ratio=0.7, lag_ms=90),
                FakeInstance("live-3", "127.0.0.4", health="down"),
            ],
            statistics=[make_statistics("7.11.0", created, 300)],
        ),
        FakeWorkspace(
            name="classic",
            instances=[
                FakeInstance("classic-1", "127.0.0.5", local=True),
                FakeInstance("classic-2", "127.0.0.6", health="unhealthy"),
            ],
            statistics=[make_statistics("7.10.2", created, 100)],
        ),
        FakeWorkspace(
            name="older",
            shape="A",
            instances=[FakeInstance("older-1", "127.0.0.7", local=True)],
            statistics=[make_statistics("5.2.1", created, 50)],
        ),
    ]


@pytest.fixture
async def cluster() -> Any:
    server = FakeRocketChat(health_workspaces())
    await server.start()
    await start_health(server)
    yield server
    await server.stop()


async def test_health_asks_every_instance_at_its_own_address(
    cluster: FakeRocketChat, exporter_for: Any
) -> None:
    config = with_collectors(fast_config(cluster), health=0.2)
    run = await exporter_for(config)
    samples = await run.wait_until(
        lambda s: len(series(s, "rocketchat_instance_healthy")) == 5, "health of 5 instances"
    )
    healthy = "rocketchat_instance_healthy"
    assert at(samples, healthy, instance_id="live-1", host="127.0.0.2") == 1
    assert at(samples, healthy, instance_id="live-2") == 1
    assert at(samples, healthy, instance_id="live-3") == 0  # does not answer
    assert at(samples, healthy, instance_id="classic-1") == 1
    assert at(samples, healthy, instance_id="classic-2") == 0  # /health 500 "not healthy"
    assert at(samples, "rocketchat_instance_heap_usage_ratio", instance_id="live-1") == 0.5
    lag = at(samples, "rocketchat_instance_event_loop_lag_seconds", instance_id="live-2")
    assert lag == pytest.approx(0.09)
    assert at(samples, "rocketchat_instance_database_healthy", instance_id="live-1") == 1
    assert not series(samples, "rocketchat_instance_heap_usage_ratio", workspace="classic")
    # 5.2 has no health route: not available, no series, no error
    assert not series(samples, healthy, workspace="older")
    assert at(samples, SUCCESS, workspace="older", collector="health") == 1
    for workspace in ("live", "classic", "older"):
        assert at(samples, "rocketchat_up", workspace=workspace) == 1
    requests = {k for w in cluster.workspaces.values() for k in w.requests if "/" in k}
    assert {"live-1/livez", "live-2/livez", "classic-1/health", "classic-2/health"} <= requests
    assert not any(k.endswith("/readyz") for k in requests)  # never: it resets a histogram
    # once the version is known (statistics), /health only: /livez at most in the first round
    classic = cluster.workspaces["classic"].requests
    await run.wait_until(lambda s: classic["classic-1/health"] >= 3, "three rounds")
    assert classic["classic-1/livez"] <= 1
    promtool_check_metrics(await run.metrics())


async def test_an_instance_that_turns_unhealthy_is_reported_and_vanished_ones_leave(
    cluster: FakeRocketChat, exporter_for: Any
) -> None:
    live = cluster.workspaces["live"]
    run = await exporter_for(with_collectors(fast_config(cluster), health=0.2))
    await run.wait_until(
        lambda s: at(s, "rocketchat_instance_healthy", instance_id="live-2") == 1, "live-2 ok"
    )
    live.instances[1].health = "unhealthy"
    await run.wait_until(
        lambda s: at(s, "rocketchat_instance_healthy", instance_id="live-2") == 0,
        "live-2 unhealthy",
    )
    del live.instances[1]
    samples = await run.wait_until(
        lambda s: not series(s, "rocketchat_instance_healthy", instance_id="live-2"), "no ghost"
    )
    assert at(samples, "rocketchat_instance_healthy", instance_id="live-1") == 1


async def test_health_never_follows_a_hostile_host_and_sends_no_credentials(
    cluster: FakeRocketChat, exporter_for: Any
) -> None:
    live = cluster.workspaces["live"]
    for host in ("127.0.0.2/x@attacker.example", "127.0.0.2:1@x", "a b", ""):
        live.instances.append(FakeInstance(f"evil {host}", host, port="80"))
    run = await exporter_for(with_collectors(fast_config(cluster), health=0.2))
    samples = await run.wait_until(
        lambda s: at(s, "rocketchat_instance_healthy", instance_id="live-1") == 1, "live-1"
    )
    assert not [s for s in series(samples, "rocketchat_instance_healthy") if "evil" in str(s)]
    assert not any(k.startswith("credentials") for k in live.requests)  # no token sent there
    _, page, _ = await run.get("/workspace/live")
    assert "no usable host and port" in page


def test_health_and_omnichannel_intervals_have_a_floor_and_address_templates_are_checked(
    tmp_path: Path,
) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(
        "poll_interval: 10s\n"
        "collectors: {health: {enabled: true, address_template: 'https://{host}:{port}/rc'},\n"
        "             omnichannel: true}\n"
        "workspaces:\n"
        "  - {name: a, url: 'https://a.example.com', auth: {user_id: u, token: t}}\n"
    )
    (workspace,) = load_config(path).workspaces
    intervals = dict(endpoints(workspace))
    assert intervals["instances.get"] == 10
    assert intervals["health"] == 30  # poll_interval, at least 30 s
    assert intervals["omnichannel.agents-status"] == intervals["omnichannel.chats"] == 60
    assert workspace.setting(health.ADDRESS) == "https://{host}:{port}/rc"


async def test_a_livez_without_checks_gives_health_alone_and_readyz_brings_the_detail_back(
    cluster: FakeRocketChat, exporter_for: Any
) -> None:
    cluster.workspaces["live"].bare_livez = True  # the upstream change: checks only in /readyz
    run = await exporter_for(with_collectors(fast_config(cluster), health=0.2))
    samples = await run.wait_until(
        lambda s: at(s, "rocketchat_instance_healthy", instance_id="live-2") == 1, "live-2"
    )
    for family in (
        "rocketchat_instance_heap_usage_ratio",
        "rocketchat_instance_event_loop_lag_seconds",
        "rocketchat_instance_database_healthy",
    ):
        assert not series(samples, family, workspace="live")  # unknown, not 0
    assert at(samples, "rocketchat_instance_healthy", instance_id="live-1") == 1


async def test_readyz_is_asked_instead_of_livez_only_when_opted_in(
    cluster: FakeRocketChat, exporter_for: Any
) -> None:
    cluster.workspaces["live"].bare_livez = True
    config = with_collectors(fast_config(cluster), health=0.2)
    config = dataclasses.replace(
        config,
        workspaces=tuple(w.with_setting(health.READYZ, True) for w in config.workspaces),
    )
    run = await exporter_for(config)
    samples = await run.wait_until(
        lambda s: (
            at(s, "rocketchat_instance_healthy", instance_id="live-2") is not None
            and at(s, "rocketchat_instance_healthy", instance_id="classic-1") is not None
        ),
        "health of live-2 and classic-1",
    )
    assert at(samples, "rocketchat_instance_heap_usage_ratio", instance_id="live-2") == 0.7
    live = cluster.workspaces["live"].requests
    await run.wait_until(lambda s: live["live-1/readyz"] >= 2, "two rounds")
    assert live["live-1/livez"] == 0  # 7.11+: /readyz, never both
    classic = cluster.workspaces["classic"].requests
    assert classic["classic-1/health"] >= 1 and classic["classic-1/readyz"] <= 1  # 7.10: /health


def test_readyz_needs_an_interval_of_a_minute_at_least(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(
        "collectors: {health: {readyz: true}}\n"
        "workspaces:\n"
        "  - {name: a, url: 'https://a.example.com', auth: {user_id: u, token: t}}\n"
        "  - {name: b, url: 'https://b.example.com', auth: {user_id: u, token: t},\n"
        "     collectors: {health: {readyz: true, interval: 30s}}}\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.problems == [
        f"{path}: workspaces[1].collectors.health.interval: must be at least 60s with readyz "
        "(each /readyz call resets the event-loop histogram the orchestrator's probes read)"
    ]
    path.write_text(path.read_text().replace("interval: 30s", "interval: 2m"))
    a, b = load_config(path).workspaces
    assert a.setting(health.READYZ) and dict(endpoints(a))["health"] == 60  # floor with readyz
    assert dict(endpoints(b))["health"] == 120


# -- the request budget ----------------------------------------------------------------------


def test_every_collector_on_at_its_defaults_stays_under_the_rate_limiter(tmp_path: Path) -> None:
    """Per workspace per route, at the default intervals with every collector enabled: far
    below 10 requests a minute (health goes to the instances, not the API, and is not counted
    by the API's limiter, but it is listed)."""
    path = tmp_path / "config.yaml"
    path.write_text(
        "collectors: {info: true, licenses: true, health: true, omnichannel: true,\n"
        "             links: {allowed_networks: [10.0.0.0/8]}}\n"
        "workspaces:\n"
        "  - {name: a, url: 'https://a.example.com', auth: {user_id: u, token: t}}\n"
    )
    (workspace,) = load_config(path).workspaces
    target = {"health": "each instance", "links": "each instance's API"}
    budget = [
        (request.endpoint, target.get(c.name, "API"), 3600 / interval)
        for c, interval in enabled(workspace)
        for request in c.requests
    ]
    assert {e for e, _, _ in budget} == {
        r.endpoint for c in COLLECTORS.values() for r in c.requests
    }
    limit, window = 10, 60.0  # Rocket.Chat's default REST limiter: 10 requests per 60 s per route
    for endpoint, _, per_hour in budget:
        assert per_hour * window / 3600 <= limit / 2, endpoint  # at most half of a route's budget
    api = sum(per_hour for _, where, per_hour in budget if where == "API")
    assert api == pytest.approx(120 + 12 * 4 + 60 * 2)  # 288 API requests per hour
    # links asks each instance's own instances.get: the same route as the core's, which the
    # load balancer may send to that very instance every time; together still within half
    per_instance = sum(h for e, _, h in budget if e in ("instances.get", "links"))
    assert per_instance * window / 3600 <= limit / 2  # 4 a minute per instance


def test_the_chats_window_is_since_1970_until_now() -> None:
    from exporter.collectors.omnichannel import chats_params

    params = chats_params()
    assert params["start"] == "1970-01-01T00:00:00Z"
    end = time.mktime(time.strptime(params["end"], "%Y-%m-%dT%H:%M:%SZ")) - time.timezone
    assert abs(end - time.time()) < 5
