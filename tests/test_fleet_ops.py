"""Protect /metrics (TLS + basic auth), live reload, and sharding across replicas."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import signal
import ssl
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import bcrypt
import pytest
import yaml

from exporter.app import Exporter
from exporter.config.shard import owner, parse_shard
from exporter.demo.fleet import FakeInstance, FakeWorkspace, make_statistics
from exporter.demo.server import FakeRocketChat
from exporter.model.config import ConfigError
from exporter.web.webconfig import load_web_config

from conftest import (
    Samples,
    fast_config,
    free_port,
    parse_exposition,
    poll_errors,
    running_prometheus,
    series,
    value,
    wait_for,
)
from faults import respond

PASSWORD = "correct horse battery staple"


def web_config_file(tmp_path: Path, certificate: tuple[Path, Path]) -> Path:
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()
    path = tmp_path / "web.yml"
    path.write_text(
        yaml.safe_dump(
            {
                "tls_server_config": {
                    "cert_file": str(certificate[0]),
                    "key_file": str(certificate[1]),
                    "min_version": "TLS12",
                },
                "basic_auth_users": {"prometheus": hashed},
            }
        )
    )
    return path


@pytest.fixture
async def protected(
    fake: FakeRocketChat, certificate: tuple[Path, Path], tmp_path: Path
) -> AsyncIterator[Exporter]:
    config = dataclasses.replace(fast_config(fake), listen_host="127.0.0.1", listen_port=0)
    exporter = Exporter(config, load_web_config(str(web_config_file(tmp_path, certificate))))
    await exporter.start()
    yield exporter
    await exporter.stop()


async def test_tls_and_basic_auth_guard_everything_but_healthz(
    protected: Exporter, certificate: tuple[Path, Path]
) -> None:
    trusted = ssl.create_default_context(cafile=str(certificate[0]))
    url = protected.url
    assert url.startswith("https://")
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.ClientConnectorCertificateError):
            await session.get(url + "/healthz")  # without the CA: the certificate is refused
        async with session.get(url + "/healthz", ssl=trusted) as resp:
            assert resp.status == 200
        for path in ("/metrics", "/", "/ready"):
            async with session.get(url + path, ssl=trusted) as resp:
                assert resp.status == 401
                assert resp.headers["WWW-Authenticate"].startswith('Basic realm="')
        wrong = basic("prometheus", "wrong")
        unknown = basic("nobody", PASSWORD)
        garbage = {"Authorization": "Basic !!!not-base64"}
        for headers in (wrong, unknown, garbage):
            async with session.get(url + "/metrics", ssl=trusted, headers=headers) as resp:
                assert resp.status == 401
        right = basic("prometheus", PASSWORD)

        async def failures() -> float | None:
            async with session.get(url + "/metrics", ssl=trusted, headers=right) as resp:
                assert resp.status == 200
                return value(
                    parse_exposition(await resp.text()),
                    "rocketchat_exporter_http_auth_failures_total",
                )

        await wait_for(lambda: _equals(failures(), 6), "six failures counted")
        async with session.post(url + "/-/reload", ssl=trusted) as resp:
            assert resp.status == 401


def basic(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


async def test_container_healthcheck_works_with_and_without_tls(
    protected: Exporter, fake: FakeRocketChat, exporter_for: Any
) -> None:
    plain = await exporter_for(fast_config(fake))
    for port in (protected.port, plain.exporter.port):
        check = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "exporter.healthcheck", str(port)
        )
        assert await asyncio.wait_for(check.wait(), timeout=60) == 0
    check = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "exporter.healthcheck", str(free_port())
    )
    assert await asyncio.wait_for(check.wait(), timeout=60) == 1


async def _equals(pending: Any, expected: float) -> bool:
    return bool(await pending == expected)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ({"tls_server_config": {"cert_file": "/nonexistent.pem"}}, "missing one of key"),
        ({"basic_auth_users": {"bob": "plaintext"}}, "basic_auth_users.bob: must be a bcrypt"),
        ({"tls_config": {}}, "tls_config: unknown key"),
        (
            {"tls_server_config": {"cert_file": "/x", "key_file": "/y"}},
            "cert_file: failed to read /x: no such file",
        ),
    ],
)
async def test_bad_web_config_is_a_clear_startup_error(
    fake: FakeRocketChat, tmp_path: Path, content: dict[str, Any], message: str
) -> None:
    path = tmp_path / "web.yml"
    path.write_text(yaml.safe_dump(content))
    with pytest.raises(ConfigError) as caught:
        load_web_config(str(path))
    assert message in "\n".join(caught.value.problems)
    config = write_config(tmp_path, fake, ["old"])
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "exporter", "--config", str(config), "--web-config", str(path),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 2
    assert message in stderr.decode() and "Traceback" not in stderr.decode()


async def test_prometheus_scrapes_over_tls_with_basic_auth(
    protected: Exporter, certificate: tuple[Path, Path], tmp_path: Path
) -> None:
    password_file = tmp_path / "password"
    password_file.write_text(PASSWORD)
    config = {
        "global": {"scrape_interval": "1s"},
        "scrape_configs": [
            {
                "job_name": "rocketchat-exporter",
                "scheme": "https",
                "tls_config": {"ca_file": str(certificate[0])},
                "basic_auth": {"username": "prometheus", "password_file": str(password_file)},
                "static_configs": [{"targets": [protected.url.removeprefix("https://")]}],
            }
        ],
    }
    async with running_prometheus(config, tmp_path) as prometheus:

        async def up() -> bool:
            result = await prometheus.query('up{job="rocketchat-exporter"}')
            return bool(result) and result[0]["value"][1] == "1"

        await wait_for(up, "Prometheus scraping over TLS with basic auth: up 1", deadline=60)
    assert protected.state.auth_failures == 0


# --- live reload -------------------------------------------------------------------------------


def write_config(tmp_path: Path, fake: FakeRocketChat, names: list[str], **extra: Any) -> Path:
    workspaces = []
    for name in names:
        workspace = fake.workspaces[name]
        entry = {
            "name": name,
            "url": fake.url_of(name),
            "auth": {"user_id": workspace.user_id, "token": workspace.token},
            **extra.get(name, {}),
        }
        workspaces.append(entry)
    path = tmp_path / "config.yaml"
    document = {"poll_interval": "1s", "statistics_interval": "1s", "timeout": "2s"}
    path.write_text(yaml.safe_dump({**document, "workspaces": workspaces}))
    return path


async def test_sighup_and_post_reload_apply_a_new_config_and_reject_a_broken_one(
    fake: FakeRocketChat, tmp_path: Path
) -> None:
    """POST /-/reload and SIGHUP apply a new config (a removed workspace's series vanish);
    a broken one is rejected and the running config stays."""
    config = write_config(tmp_path, fake, ["old", "new"])
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "exporter", "--config", str(config),
        "--listen", f"127.0.0.1:{port}", "--web.enable-lifecycle",
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    latest: Samples = {}
    try:
        async with aiohttp.ClientSession() as session:

            async def scrape_until(check: Any, what: str) -> Samples:
                async def condition() -> bool:
                    nonlocal latest
                    try:
                        async with session.get(url + "/metrics") as resp:
                            latest = parse_exposition(await resp.text())
                    except aiohttp.ClientError:
                        return False
                    return bool(check(latest))

                await wait_for(condition, what)
                return latest

            await scrape_until(
                lambda s: (
                    value(s, "rocketchat_up", workspace="old") == 1
                    and value(s, "rocketchat_up", workspace="new") == 1
                ),
                "old and new up",
            )
            fake.workspaces["new"].overrides["statistics.list"] = respond(500, {})
            await scrape_until(
                lambda s: value(
                    s, "rocketchat_exporter_poll_errors_total", workspace="new",
                    endpoint="statistics.list", reason="http_5xx",
                ),
                "an error counted for new",
            )  # fmt: skip
            del fake.workspaces["new"].overrides["statistics.list"]

            # SIGHUP: "old" removed, "strings" added, "new" unchanged
            write_config(tmp_path, fake, ["new", "strings"])
            process.send_signal(signal.SIGHUP)
            samples = await scrape_until(
                lambda s: (
                    value(s, "rocketchat_up", workspace="strings") == 1
                    and not series(s, "rocketchat_up", workspace="old")
                ),
                "strings added and old gone",
            )
            assert not [key for key in samples if ("workspace", "old") in key[1]]
            assert value(  # the unchanged workspace kept its counters
                samples, "rocketchat_exporter_poll_errors_total", workspace="new",
                endpoint="statistics.list", reason="http_5xx",
            )  # fmt: skip

            # POST /-/reload: "strings" changed (statistics off) restarts without statistics
            write_config(tmp_path, fake, ["new", "strings"], strings={"statistics": False})
            async with session.post(url + "/-/reload") as resp:
                assert (resp.status, await resp.text()) == (200, "reloaded\n")
            await scrape_until(
                lambda s: (
                    value(s, "rocketchat_up", workspace="strings") == 1
                    and value(s, "rocketchat_workspace_users", workspace="strings") is None
                ),
                "strings without statistics",
            )

            # a broken config is rejected; the running one goes on
            (tmp_path / "config.yaml").write_text("workspaces: [{name: x}]\n")
            async with session.post(url + "/-/reload") as resp:
                body = await resp.text()
                assert resp.status == 400
                assert "workspaces[0].url: is required" in body
            process.send_signal(signal.SIGHUP)
            failures = "rocketchat_exporter_config_reload_failures_total"
            samples = await scrape_until(
                lambda s: value(s, failures, config="config") == 2, "both refusals counted"
            )
            assert value(samples, "rocketchat_up", workspace="new") == 1  # still polling
            assert value(samples, "rocketchat_up", workspace="strings") == 1
            assert value(samples, failures, config="web_config") == 0
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(process.communicate(), timeout=30)
    log = stderr.decode()
    assert "reload rejected, keeping the running config" in log
    assert "config reloaded: 1 added, 1 removed, 0 changed, 1 unchanged" in log
    assert process.returncode == 0


# --- sharding ----------------------------------------------------------------------------------


def test_rendezvous_assignment_is_stable_and_balanced() -> None:
    names = [f"tenant-{i}" for i in range(1000)]
    before = {name: owner(name, 3) for name in names}
    counts = [list(before.values()).count(shard) for shard in range(3)]
    assert all(280 < count < 390 for count in counts), counts
    # adding workspaces moves none of the others
    after = {name: owner(name, 3) for name in [*names, "tenant-new-1", "tenant-new-2"]}
    assert all(after[name] == before[name] for name in names)
    # a fourth replica takes about a quarter, and only moves workspaces to itself
    moved = [name for name in names if owner(name, 4) != before[name]]
    assert 180 < len(moved) < 330
    assert all(owner(name, 4) == 3 for name in moved)
    assert parse_shard("2/3") == (2, 3)
    for bad in ("3/3", "1", "a/b", "0/0"):
        with pytest.raises(ValueError):
            parse_shard(bad)


@pytest.fixture
async def hundred() -> AsyncIterator[FakeRocketChat]:
    fleet = [
        FakeWorkspace(
            name=f"tenant-{i:03d}",
            instances=[
                FakeInstance(f"id-{i}-{j}", f"10.0.{i}.{j}", local=j == 0, updated_at=1.75e9)
                for j in range(2)
            ],
            statistics=[make_statistics("8.8.1", 1.75e9, 100 + i)],
        )
        for i in range(100)
    ]
    server = FakeRocketChat(fleet)
    await server.start()
    yield server
    await server.stop()


def data_view(samples: Samples) -> dict[Any, float]:
    """The series and values that do not depend on poll timing (nor on the process: the
    process_* and python_* self-metrics differ between replicas)."""
    timing = {
        "rocketchat_exporter_poll_duration_seconds",
        "rocketchat_exporter_last_success_timestamp_seconds",
        "rocketchat_exporter_build_info",
    }
    return {
        key: v
        for key, v in samples.items()
        if key[0] not in timing and key[0].startswith("rocketchat_")
    }


async def test_three_shards_poll_each_workspace_once_and_add_up_to_one_exporter(
    hundred: FakeRocketChat, exporter_for: Any
) -> None:
    # timeout: four exporters of 100 workspaces in one process, on a machine running other tests
    base = fast_config(hundred, poll_interval=2.0, statistics_interval=2.0, timeout=15.0)
    shards = [
        await exporter_for(dataclasses.replace(base, shard_index=i, shard_count=3))
        for i in range(3)
    ]
    names = [set(run.exporter.state.workspaces) for run in shards]
    assert set().union(*names) == set(hundred.workspaces)
    assert sum(len(n) for n in names) == 100  # disjoint
    assert all(len(n) > 15 for n in names)

    def every_collector_ok(samples: Samples, count: int) -> bool:
        """instances, statistics, info and licenses have all answered for every workspace."""
        success = "rocketchat_exporter_collector_success"
        return sum(1 for k in samples if k[0] == success and samples[k] == 1) == 4 * count

    outputs = [
        await run.wait_until(lambda s, n=n: every_collector_ok(s, len(n)), "shard up")
        for run, n in zip(shards, names, strict=True)
    ]
    single = await exporter_for(base)
    whole = await single.wait_until(lambda s: every_collector_ok(s, 100), "all up")
    union: dict[Any, float] = {}
    for output in outputs:
        union.update(data_view(output))
    assert union == data_view(whole)
    # every workspace was polled by exactly one shard (plus the unsharded exporter)
    for run, mine in zip(shards, names, strict=True):
        assert set(run.exporter.poller.clients) == mine
    assert all(w.requests["instances.get"] >= 2 for w in hundred.workspaces.values())


def test_shard_deployment_examples_are_consistent() -> None:
    repo = Path(__file__).parent.parent
    compose = yaml.safe_load((repo / "deploy" / "docker-compose.shards.yml").read_text())
    replicas = {n: s for n, s in compose["services"].items() if n.startswith("exporter-")}
    shards = sorted(s["command"][s["command"].index("--shard") + 1] for s in replicas.values())
    assert shards == ["0/3", "1/3", "2/3"]
    scrape = yaml.safe_load((repo / "prometheus" / "prometheus.shards.yml").read_text())
    targets = scrape["scrape_configs"][0]["static_configs"][0]["targets"]
    assert sorted(targets) == sorted(f"{name}:9877" for name in replicas)
    documents = list(
        yaml.safe_load_all(
            (
                repo / "deploy" / "kubernetes" / "sharded" / "rocketchat-exporter-sharded.yaml"
            ).read_text()
        )
    )
    kinds = {d["kind"]: d for d in documents}
    assert {"StatefulSet", "Service", "ServiceMonitor", "ConfigMap"} <= set(kinds)
    assert "Secret" not in kinds  # the operator's, created first: applying never overwrites it
    statefulset = kinds["StatefulSet"]
    args = statefulset["spec"]["template"]["spec"]["containers"][0]["args"]
    shard = args[args.index("--shard") + 1]
    assert shard == f"$(POD_INDEX)/{statefulset['spec']['replicas']}"
    config = yaml.safe_load(kinds["ConfigMap"]["data"]["config.yaml"])
    assert config["workspaces"][0]["auth"]["token_file"].startswith("/run/secrets/")


async def test_reload_with_a_new_connection_pool_restarts_polling_and_keeps_counters(
    fake: FakeRocketChat, exporter_for: Any
) -> None:
    fake.workspaces["old"].overrides["statistics.list"] = respond(500, {})
    run = await exporter_for(fast_config(fake))
    await run.wait_until(
        lambda s: poll_errors(s, "old", "statistics.list", "http_5xx") >= 1, "an error for old"
    )
    del fake.workspaces["old"].overrides["statistics.list"]
    before = run.exporter.poller
    changed = dataclasses.replace(run.exporter.config, max_concurrency=3)
    assert await run.exporter.reload_from(lambda: changed) == []
    assert run.exporter.poller is not before and before.sessions is not None
    assert before.sessions.closed
    requests = fake.workspaces["new"].requests["instances.get"]
    samples = await run.wait_until(
        lambda s: (
            value(s, "rocketchat_up", workspace="old") == 1
            and fake.workspaces["new"].requests["instances.get"] > requests + 2
        ),
        "polling again through the new pool",
    )
    assert poll_errors(samples, "old", "statistics.list", "http_5xx") >= 1
