"""Shared helpers: a loopback fake Rocket.Chat, a running exporter, scraping and parsing."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import random
import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from hypothesis import settings
from prometheus_client.parser import text_string_to_metric_families

from exporter.app import Exporter
from exporter.collectors import instances, statistics
from exporter.demo.fleet import FakeInstance, FakeWorkspace, make_statistics
from exporter.demo.landscape import config_for
from exporter.demo.server import FakeRocketChat
from exporter.exposition.publisher import Publisher
from exporter.model.config import Config

FIXTURES = Path(__file__).parent / "fixtures"

# The suite must give the same verdict on every run: property tests replay a fixed set of
# examples. HYPOTHESIS_PROFILE=explore searches new ones (do that when changing a parser).
settings.register_profile("default", derandomize=True, print_blob=True)
settings.register_profile("explore", derandomize=False, max_examples=5000)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))
INSTANCES, STATISTICS = instances.ANSWER.endpoint, statistics.RECORD.endpoint
DEADLINE = 20.0  # generous: machines are shared; tests wait for conditions, never fixed sleeps


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse_exposition(text: str) -> Samples:
    """Every sample of an exposition, keyed by (name, labels); duplicates are an error."""
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            key = (sample.name, frozenset(sample.labels.items()))
            assert key not in samples, f"duplicate series {key}"
            samples[key] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


def series(samples: Samples, name: str, **labels: str) -> list[dict[str, str]]:
    """Label sets of every sample of `name` whose labels include `labels`."""
    found = []
    for sample_name, label_set in samples:
        if sample_name == name and set(labels.items()) <= label_set:
            found.append(dict(label_set))
    return found


def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.fail("promtool not found: install the Debian package 'prometheus' (make test does)")
    return path


def promtool_check_metrics(text: str) -> str:
    result = subprocess.run(
        [promtool(), "check", "metrics"],
        input=text,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout + result.stderr


async def wait_for(
    condition: Callable[[], Awaitable[bool]] | Callable[[], bool],
    what: str,
    deadline: float = DEADLINE,
) -> None:
    """Poll `condition` until true; fail with `what` after a generous deadline."""
    end = time.monotonic() + deadline
    while True:
        result = condition()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if time.monotonic() > end:
            pytest.fail(f"timed out waiting for: {what}")
        await asyncio.sleep(0.02)


def three_workspaces() -> list[FakeWorkspace]:
    """Shape A (4.x), shape B (8.x) with a disconnected peer, shape B with string numbers."""
    created = 1_750_000_000.0
    return [
        FakeWorkspace(
            name="old",
            shape="A",
            instances=[
                FakeInstance("oldLocalId0000001", "10.0.0.1", local=True, created_at=created),
                FakeInstance("oldPeerId00000002", "10.0.0.2", connected=False, cpus=8),
            ],
            statistics=[make_statistics("4.8.7", created + 3600, 640)],
        ),
        FakeWorkspace(
            name="new",
            shape="B",
            instances=[
                FakeInstance("uuid-new-1", "10.1.0.1", local=True, conns=412),
                FakeInstance("uuid-new-2", "10.1.0.2", conns=398),
                FakeInstance("uuid-new-3", "10.1.0.3", connected=False, conns=None),
            ],
            statistics=[make_statistics("8.8.1", created + 7200, 1843)],
        ),
        FakeWorkspace(
            name="strings",
            shape="B-strings",
            instances=[
                FakeInstance(
                    "uuid-str-1", "10.2.0.1", local=True, conns=12, loadavg=(0.87, 0.74, 0.69)
                )
            ],
            statistics=[make_statistics("7.10.2", created + 60, 57)],
        ),
    ]


@pytest.fixture(autouse=True)
def no_proxy_from_the_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    """The exporter honours HTTP(S)_PROXY: a proxy set on the machine running the tests must
    not carry the loopback fake servers' traffic (the proxy tests set their own)."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


@pytest.fixture(autouse=True)
def quick_publisher(monkeypatch: pytest.MonkeyPatch) -> None:
    """In-process exporters re-render at most every 50 ms instead of every second, so a test
    sees a poll's effect at once; exporters started as processes run the shipped value."""
    monkeypatch.setattr(Publisher, "MIN_INTERVAL", 0.05)


@pytest.fixture
async def fake() -> AsyncIterator[FakeRocketChat]:
    server = FakeRocketChat(three_workspaces())
    await server.start()
    yield server
    await server.stop()


class Running:
    """A started exporter plus a client to scrape it."""

    def __init__(self, exporter: Exporter, session: aiohttp.ClientSession) -> None:
        self.exporter = exporter
        self.session = session

    async def get(self, path: str, **kwargs: Any) -> tuple[int, str, dict[str, str]]:
        async with self.session.get(self.exporter.url + path, **kwargs) as resp:
            return resp.status, await resp.text(), dict(resp.headers)

    async def metrics(self) -> str:
        status, body, _ = await self.get("/metrics")
        assert status == 200
        return body

    async def samples(self) -> Samples:
        return parse_exposition(await self.metrics())

    async def wait_until(
        self, check: Callable[[Samples], bool], what: str, deadline: float = DEADLINE
    ) -> Samples:
        latest: Samples = {}

        async def condition() -> bool:
            nonlocal latest
            latest = await self.samples()
            return check(latest)

        await wait_for(condition, what, deadline)
        return latest


@pytest.fixture
async def exporter_for() -> AsyncIterator[Any]:
    """Factory: start an exporter for a Config on a free loopback port; stopped at teardown."""
    runs: list[Running] = []

    async def start(config: Config, *args: Any, **kwargs: Any) -> Running:
        """Extra arguments go to Exporter (web_config, reloader, lifecycle, ...)."""
        config = dataclasses.replace(config, listen_host="127.0.0.1", listen_port=0)
        exporter = Exporter(config, *args, **kwargs)
        await exporter.start()
        run = Running(exporter, aiohttp.ClientSession())
        runs.append(run)
        return run

    yield start
    for run in runs:
        await run.session.close()
        await run.exporter.stop()


def with_auth(config: Config, name: str, auth: Any) -> Config:
    """`config` with other credentials for workspace `name`."""
    workspaces = tuple(
        dataclasses.replace(w, auth=auth) if w.name == name else w for w in config.workspaces
    )
    return dataclasses.replace(config, workspaces=workspaces)


def fast_config(server: FakeRocketChat, **overrides: Any) -> Config:
    """Short intervals so changes show within a fraction of a second."""
    options: dict[str, Any] = {"poll_interval": 0.2, "statistics_interval": 0.2, "timeout": 2.0}
    options.update(overrides)
    return config_for(server, **options)


def make_certificate(folder: Path, subject: str, names: str) -> tuple[Path, Path]:
    """A self-signed certificate (it is its own CA) for `names` (a subjectAltName value), made
    with the openssl command."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.fail("openssl not found (Debian package openssl)")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            f"/CN={subject}",
            "-addext",
            f"subjectAltName={names}",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return cert, key


@pytest.fixture(scope="session")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1."""
    return make_certificate(tmp_path_factory.mktemp("tls"), "127.0.0.1", "IP:127.0.0.1")


# OpenSSL matches no wildcard over a single label (*.test): each name is listed
TEST_NAMES = ",".join(f"DNS:{n}.test" for n in ("rebind", "flaky", "both", "good", "gone"))


@pytest.fixture(scope="session")
def names_certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for the host names of tests/netns."""
    return make_certificate(tmp_path_factory.mktemp("tls-names"), "names.test", TEST_NAMES)


def free_port() -> int:
    """A loopback port free now, for a process started next to listen on. Chosen below the
    kernel's ephemeral range (32768+), where the kernel itself picks the ports of outgoing
    connections and of bind(0): with the suite running in parallel, a port from there could
    be taken by some test's client connection before the process binds it."""
    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):  # not Linux: its usual range
        low = 32768
    for _ in range(1000):
        port = random.randrange(max(1024, low - 12_000), low)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise AssertionError("no free loopback port below the ephemeral range")


def poll_errors(samples: Samples, workspace: str, endpoint: str, reason: str) -> float:
    """rocketchat_exporter_poll_errors_total of one workspace, endpoint and reason (0 if absent)."""
    labels = {"workspace": workspace, "endpoint": endpoint, "reason": reason}
    return value(samples, "rocketchat_exporter_poll_errors_total", **labels) or 0


class Prometheus:
    """A real Prometheus server (Debian package) and its HTTP API."""

    def __init__(self, url: str, session: aiohttp.ClientSession) -> None:
        self.url = url
        self.session = session

    async def query(self, expr: str) -> list[dict[str, Any]]:
        async with self.session.get(f"{self.url}/api/v1/query", params={"query": expr}) as resp:
            body = await resp.json()
        assert body["status"] == "success", f"{expr}: {body}"
        result: list[dict[str, Any]] = body["data"]["result"]
        return result

    async def alerts(self) -> list[dict[str, Any]]:
        async with self.session.get(f"{self.url}/api/v1/alerts") as resp:
            body = await resp.json()
        alerts: list[dict[str, Any]] = body["data"]["alerts"]
        return alerts


@contextlib.asynccontextmanager
async def running_prometheus(config: dict[str, Any], folder: Path) -> AsyncIterator[Prometheus]:
    """Start Prometheus with `config` on a free loopback port; stop it afterwards."""
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.fail("prometheus not found: install the Debian package 'prometheus'")
    port = free_port()
    config_file = folder / "prometheus.yml"
    config_file.write_text(yaml.safe_dump(config))
    process = await asyncio.create_subprocess_exec(
        binary,
        f"--config.file={config_file}",
        f"--storage.tsdb.path={folder / 'prometheus-data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--log.level=warn",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    session = aiohttp.ClientSession()
    url = f"http://127.0.0.1:{port}"

    async def is_ready() -> bool:
        if process.returncode is not None:
            stderr = await process.stderr.read() if process.stderr else b""
            pytest.fail(f"prometheus exited: {stderr.decode()[-2000:]}")
        try:
            async with session.get(f"{url}/-/ready") as resp:
                return resp.status == 200
        except aiohttp.ClientError:
            return False

    try:
        await wait_for(is_ready, "prometheus ready", deadline=60)
        yield Prometheus(url, session)
    finally:
        await session.close()
        if process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), timeout=20)
            except TimeoutError:
                process.kill()
                await process.wait()
