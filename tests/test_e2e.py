"""The real exporter against a loopback fake Rocket.Chat, scraped over HTTP."""

from __future__ import annotations

import asyncio
import gzip
import time
from typing import Any

from exporter.demo.fleet import FakeInstance, make_statistics
from exporter.demo.server import FakeRocketChat
from exporter.rocketchat.values import timestamp

from conftest import (
    DEADLINE,
    fast_config,
    parse_exposition,
    promtool_check_metrics,
    series,
    value,
    wait_for,
)
from faults import hang, respond


def all_up(samples: Any, names: tuple[str, ...] = ("old", "new", "strings")) -> bool:
    return all(value(samples, "rocketchat_up", workspace=n) == 1 for n in names)


async def test_three_workspaces_both_shapes_and_string_numbers_give_exact_values(
    fake: FakeRocketChat, exporter_for: Any
) -> None:
    run = await exporter_for(fast_config(fake))
    samples = await run.wait_until(all_up, "every workspace up")

    assert value(samples, "rocketchat_instances", workspace="old") == 2
    assert value(samples, "rocketchat_instances", workspace="new") == 3
    assert value(samples, "rocketchat_instances", workspace="strings") == 1

    def inst(workspace: str, instance_id: str, host: str) -> dict[str, str]:
        return {"workspace": workspace, "instance_id": instance_id, "host": host, "port": "3000"}

    old_local = inst("old", "oldLocalId0000001", "10.0.0.1")
    old_peer = inst("old", "oldPeerId00000002", "10.0.0.2")
    new_local = inst("new", "uuid-new-1", "10.1.0.1")
    new_dead = inst("new", "uuid-new-3", "10.1.0.3")
    strings = inst("strings", "uuid-str-1", "10.2.0.1")

    assert value(samples, "rocketchat_instance_connected", **old_local) == 1
    assert value(samples, "rocketchat_instance_connected", **old_peer) == 0
    assert value(samples, "rocketchat_instance_connected", **new_local) == 1
    assert value(samples, "rocketchat_instance_connected", **new_dead) == 0
    assert value(samples, "rocketchat_instance_connected", **strings) == 1
    assert value(samples, "rocketchat_instance_cpus", **old_peer) == 8
    assert value(samples, "rocketchat_instance_memory_total_bytes", **new_local) == 16e9
    assert value(samples, "rocketchat_instance_memory_free_bytes", **strings) == 6e9
    assert value(samples, "rocketchat_instance_load1", **strings) == 0.87
    assert value(samples, "rocketchat_instance_load5", **strings) == 0.74
    assert value(samples, "rocketchat_instance_load15", **strings) == 0.69
    assert value(samples, "rocketchat_instance_host_uptime_seconds", **new_local) == 1e6
    assert value(samples, "rocketchat_instance_connections", **new_local) == 412
    assert value(samples, "rocketchat_instance_connections", **strings) == 12
    # absent fields mean absent series, never 0: shape A has no conns, uuid-new-3 has none
    assert value(samples, "rocketchat_instance_connections", **old_local) is None
    assert value(samples, "rocketchat_instance_connections", **new_dead) is None
    assert value(samples, "rocketchat_instance_start_time_seconds", **old_local) == 1_750_000_000
    heartbeat = value(samples, "rocketchat_instance_last_heartbeat_timestamp_seconds", **new_local)
    assert heartbeat is not None and abs(heartbeat - time.time()) < 60

    (info,) = series(samples, "rocketchat_instance_info", **new_local)
    assert info["address"] == "10.1.0.1"
    assert info["node_version"] == "v22.16.0"
    assert info["pid"] == "1"
    assert info["os_type"] == "Linux" and info["os_arch"] == "x64"
    (dead_info,) = series(samples, "rocketchat_instance_info", **new_dead)
    assert dead_info["address"] == ""
    (old_peer_info,) = series(samples, "rocketchat_instance_info", **old_peer)
    assert old_peer_info["address"] == "10.0.0.2:3000/"

    stats = fake.workspaces["new"].statistics[0]
    assert value(samples, "rocketchat_workspace_info", workspace="new", version="8.8.1") == 1
    assert value(samples, "rocketchat_workspace_users", workspace="new") == 1843
    assert value(samples, "rocketchat_workspace_active_users", workspace="new") == 1843 - 184
    for status, field in [
        ("online", "onlineUsers"),
        ("away", "awayUsers"),
        ("busy", "busyUsers"),
        ("offline", "offlineUsers"),
    ]:
        got = value(samples, "rocketchat_workspace_users_by_status", workspace="new", status=status)
        assert got == stats[field]
    assert value(samples, "rocketchat_workspace_rooms", workspace="new") == stats["totalRooms"]
    for room_type, field in [
        ("channel", "totalChannels"),
        ("private_group", "totalPrivateGroups"),
        ("direct", "totalDirect"),
        ("livechat", "totalLivechat"),
        ("discussion", "totalDiscussions"),
    ]:
        got = value(
            samples, "rocketchat_workspace_rooms_by_type", workspace="new", room_type=room_type
        )
        assert got == stats[field]
    for room_type, field in [
        ("channel", "totalChannelMessages"),
        ("private_group", "totalPrivateGroupMessages"),
        ("direct", "totalDirectMessages"),
        ("livechat", "totalLivechatMessages"),
        ("discussion", "totalDiscussionsMessages"),
    ]:
        got = value(
            samples,
            "rocketchat_workspace_messages_by_room_type",
            workspace="new",
            room_type=room_type,
        )
        assert got == stats[field]
    assert value(samples, "rocketchat_workspace_messages", workspace="new") == 1843 * 500
    assert value(samples, "rocketchat_workspace_uploads", workspace="new") == 1843 * 7
    assert value(samples, "rocketchat_workspace_uploads_size_bytes", workspace="new") == (
        1843 * 7 * 1_500_000
    )
    assert value(samples, "rocketchat_workspace_livechat_visitors", workspace="new") == 614
    assert value(samples, "rocketchat_workspace_livechat_agents", workspace="new") == 4
    assert value(
        samples, "rocketchat_workspace_statistics_timestamp_seconds", workspace="new"
    ) == timestamp(stats["createdAt"])
    assert value(samples, "rocketchat_workspace_info", workspace="old", version="4.8.7") == 1

    for name in ("old", "new", "strings"):
        for endpoint in ("instances.get", "statistics.list"):
            labels = {"workspace": name, "endpoint": endpoint}
            duration = value(samples, "rocketchat_exporter_poll_duration_seconds", **labels)
            assert duration is not None and 0 <= duration < 5
            last = value(samples, "rocketchat_exporter_last_success_timestamp_seconds", **labels)
            assert last is not None and abs(last - time.time()) < 60
    (build,) = series(samples, "rocketchat_exporter_build_info")
    assert build["version"] and build["python_version"]
    assert not series(samples, "rocketchat_exporter_poll_errors_total")


async def test_exposition_passes_promtool_and_gzip_matches_plain(
    fake: FakeRocketChat, exporter_for: Any
) -> None:
    run = await exporter_for(fast_config(fake))
    await run.wait_until(all_up, "every workspace up")
    fake.workspaces["new"].overrides["statistics.list"] = respond(500, {"success": False})
    await run.wait_until(
        lambda s: value(s, "rocketchat_up", workspace="new") == 0, "an error counted"
    )
    text = await run.metrics()
    assert promtool_check_metrics(text) == ""
    _, _, headers = await run.get("/metrics")
    assert headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    async with run.session.get(
        run.exporter.url + "/metrics",
        headers={"Accept-Encoding": "gzip"},
        auto_decompress=False,
    ) as resp:
        assert resp.headers["Content-Encoding"] == "gzip"
        body = gzip.decompress(await resp.read()).decode()
    parsed = parse_exposition(body)
    assert value(parsed, "rocketchat_up", workspace="old") == 1
    assert value(parsed, "rocketchat_up", workspace="new") == 0


async def test_vanished_instance_leaves_no_series(fake: FakeRocketChat, exporter_for: Any) -> None:
    run = await exporter_for(fast_config(fake))
    await run.wait_until(all_up, "every workspace up")
    fake.workspaces["new"].instances.pop(1)  # uuid-new-2 shuts down
    samples = await run.wait_until(
        lambda s: value(s, "rocketchat_instances", workspace="new") == 2, "instance count 2"
    )
    leftovers = [key for key in samples if ("instance_id", "uuid-new-2") in key[1]]
    assert leftovers == []
    assert series(samples, "rocketchat_instance_info", instance_id="uuid-new-1")


async def test_restarted_instance_replaces_the_old_id(
    fake: FakeRocketChat, exporter_for: Any
) -> None:
    run = await exporter_for(fast_config(fake))
    await run.wait_until(all_up, "every workspace up")
    workspace = fake.workspaces["new"]
    workspace.instances[1] = FakeInstance("uuid-new-2-restarted", "10.1.0.2", conns=5)
    samples = await run.wait_until(
        lambda s: bool(series(s, "rocketchat_instance_info", instance_id="uuid-new-2-restarted")),
        "the restarted instance",
    )
    assert not series(samples, "rocketchat_instance_info", instance_id="uuid-new-2")


async def test_failing_endpoint_drops_its_series_and_recovery_restores_them(
    fake: FakeRocketChat, exporter_for: Any
) -> None:
    run = await exporter_for(fast_config(fake))
    await run.wait_until(all_up, "every workspace up")
    workspace = fake.workspaces["new"]
    workspace.overrides["instances.get"] = respond(502, "<html>Bad Gateway</html>")
    samples = await run.wait_until(
        lambda s: value(s, "rocketchat_up", workspace="new") == 0, "new down"
    )
    assert not series(samples, "rocketchat_instance_info", workspace="new")
    assert value(samples, "rocketchat_instances", workspace="new") is None
    # the other endpoint and the other workspaces keep their data
    assert value(samples, "rocketchat_workspace_users", workspace="new") == 1843
    assert value(samples, "rocketchat_up", workspace="old") == 1
    errors = value(
        samples,
        "rocketchat_exporter_poll_errors_total",
        workspace="new",
        endpoint="instances.get",
        reason="http_5xx",
    )
    assert errors is not None and errors >= 1
    # the self-metrics stay
    assert value(
        samples,
        "rocketchat_exporter_last_success_timestamp_seconds",
        workspace="new",
        endpoint="instances.get",
    )

    del workspace.overrides["instances.get"]
    samples = await run.wait_until(
        lambda s: value(s, "rocketchat_up", workspace="new") == 1, "new up again"
    )
    assert value(samples, "rocketchat_instances", workspace="new") == 3
    assert len(series(samples, "rocketchat_instance_info", workspace="new")) == 3


async def test_failing_statistics_drop_only_statistics_series(
    fake: FakeRocketChat, exporter_for: Any
) -> None:
    run = await exporter_for(fast_config(fake))
    await run.wait_until(all_up, "every workspace up")
    fake.workspaces["old"].overrides["statistics.list"] = respond(
        400, {"success": False, "error": "error-not-allowed"}
    )
    samples = await run.wait_until(
        lambda s: value(s, "rocketchat_up", workspace="old") == 0, "old down"
    )
    stats_names = [
        k[0]
        for k in samples
        if k[0].startswith("rocketchat_workspace_")
        and k[0] != "rocketchat_workspace_links_reported"  # from instances.get
        and k[0] != "rocketchat_workspace_info"  # from /api/info (the info collector)
    ]
    assert all(("workspace", "old") not in k[1] for k in samples if k[0] in stats_names)
    assert series(samples, "rocketchat_workspace_info", workspace="old")
    assert value(samples, "rocketchat_instances", workspace="old") == 2
    assert value(
        samples,
        "rocketchat_exporter_poll_errors_total",
        workspace="old",
        endpoint="statistics.list",
        reason="forbidden",
    )


async def test_newest_statistics_record_is_exported_whatever_the_storage_order(
    fake: FakeRocketChat, exporter_for: Any
) -> None:
    base = time.time() - 10 * 86400
    history = [make_statistics("8.8.1", base + day * 86400, 1000 + day) for day in range(9)]
    storage = [history[i] for i in (4, 0, 8, 2, 6, 1, 7, 3, 5)]  # newest is users=1008
    fake.workspaces["new"].statistics = storage
    run = await exporter_for(fast_config(fake))
    samples = await run.wait_until(all_up, "every workspace up")
    assert value(samples, "rocketchat_workspace_users", workspace="new") == 1008
    assert value(
        samples, "rocketchat_workspace_statistics_timestamp_seconds", workspace="new"
    ) == timestamp(history[8]["createdAt"])
    # the fake answers like the server: without the sort the oldest stored record comes first
    _, default_page = fake.workspaces["new"].statistics_body({"count": "1"})
    assert default_page["statistics"][0]["totalUsers"] == 1004
    for query in fake.workspaces["new"].statistics_queries:
        assert query == {"sort": '{"createdAt":-1}', "count": "1"}


async def test_hanging_workspace_delays_neither_other_polls_nor_scrapes(
    fake: FakeRocketChat, exporter_for: Any
) -> None:
    fake.workspaces["old"].overrides["instances.get"] = hang()
    fake.workspaces["old"].overrides["statistics.list"] = hang()
    run = await exporter_for(fast_config(fake, timeout=30.0))
    # the others complete several polls while "old" is stuck in its first one
    await wait_for(
        lambda: fake.workspaces["new"].requests["instances.get"] >= 5,
        "five polls of the healthy workspace",
    )
    assert fake.workspaces["old"].requests["instances.get"] == 1
    started = time.monotonic()
    samples = await run.samples()
    scrape_seconds = time.monotonic() - started
    assert scrape_seconds < DEADLINE / 2  # not bounded by the 30 s poll timeout
    assert value(samples, "rocketchat_up", workspace="new") == 1
    assert value(samples, "rocketchat_up", workspace="old") is None  # no poll finished yet
    status, _, _ = await run.get("/ready")
    assert status == 503


async def test_timeout_is_reported_with_reason_timeout(
    fake: FakeRocketChat, exporter_for: Any
) -> None:
    fake.workspaces["strings"].overrides["instances.get"] = hang()
    run = await exporter_for(fast_config(fake, timeout=0.3))
    samples = await run.wait_until(
        lambda s: (
            (
                value(
                    s,
                    "rocketchat_exporter_poll_errors_total",
                    workspace="strings",
                    endpoint="instances.get",
                    reason="timeout",
                )
                or 0
            )
            >= 1
        ),
        "a timeout counted",
    )
    assert value(samples, "rocketchat_up", workspace="strings") == 0
    status, body, _ = await run.get("/ready")
    assert status == 200, body


async def test_polls_of_one_endpoint_never_overlap(fake: FakeRocketChat, exporter_for: Any) -> None:
    workspace = fake.workspaces["new"]
    in_flight = 0
    most = 0
    inner = respond(200, workspace.instances_body())

    async def slow(request: Any) -> Any:
        nonlocal in_flight, most
        in_flight += 1
        most = max(most, in_flight)
        await asyncio.sleep(0.5)  # longer than the 0.2 s interval: the server is slow
        in_flight -= 1
        return await inner(request)

    workspace.overrides["instances.get"] = slow
    await exporter_for(fast_config(fake))
    await wait_for(lambda: workspace.requests["instances.get"] >= 4, "four slow polls")
    assert most == 1


async def test_status_page_health_and_readiness(fake: FakeRocketChat, exporter_for: Any) -> None:
    fake.workspaces["new"].overrides["statistics.list"] = respond(
        403, {"success": False, "error": "unauthorized"}
    )
    run = await exporter_for(fast_config(fake))
    await wait_for(lambda: run.exporter.state.ready, "first poll of every workspace")

    async def ready() -> bool:
        status: int = (await run.get("/ready"))[0]
        return status == 200

    await wait_for(ready, "/ready once the first polls are in /metrics")
    assert series(await run.samples(), "rocketchat_up", workspace="strings")
    status, body, _ = await run.get("/healthz")
    assert (status, body.strip()) == (200, "ok")
    status, page, headers = await run.get("/")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    for name in ("old", "new", "strings"):
        assert f'<a href="/workspace/{name}"><bdi>{name}</bdi></a>' in page
    assert "forbidden" in page
    assert "view-statistics" in page
    assert "2/3 connected" in page  # "new" has a disconnected instance
    for workspace in fake.workspaces.values():
        assert workspace.token not in page
