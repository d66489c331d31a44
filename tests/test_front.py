"""--web.front-process as a user runs it: a real exporter process, its real front process,
real sockets, signals and TLS. What the front answers must be what one process answers."""

from __future__ import annotations

import asyncio
import gzip
import json
import os
import signal
import socket
import ssl
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import bcrypt
import pytest
from test_cli import read_lines, run_cli, scrape_until, write_config
from test_http_side import basic

from exporter.demo import FakeRocketChat

from conftest import (
    DEADLINE,
    free_port,
    parse_exposition,
    promtool_check_metrics,
    value,
    wait_for,
)

PASSWORD = "front-secret"


class Running:
    def __init__(self, process: asyncio.subprocess.Process, port: int, scheme: str) -> None:
        self.process = process
        self.url = f"{scheme}://127.0.0.1:{port}"
        self.lines: list[bytes] = []
        assert process.stderr is not None
        self.logs = asyncio.create_task(read_lines(process.stderr, self.lines))

    @property
    def stderr(self) -> str:
        return b"".join(self.lines).decode()

    def front_pid(self) -> int:
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        pids = [int(p) for p in children.read_text().split()]
        fronts = [p for p in pids if b"exporter.front" in Path(f"/proc/{p}/cmdline").read_bytes()]
        assert len(fronts) == 1, pids
        return fronts[0]


@pytest.fixture
async def front_cli(tmp_path: Path) -> AsyncIterator[object]:
    started: list[Running] = []

    async def start(*args: str, scheme: str = "http") -> Running:
        port = free_port()
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "exporter",
            "--web.front-process",
            "--listen",
            f"127.0.0.1:{port}",
            *args,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        run = Running(process, port, scheme)
        started.append(run)
        return run

    yield start
    for run in started:
        if run.process.returncode is None:
            run.process.send_signal(signal.SIGTERM)
            await asyncio.wait_for(run.process.wait(), timeout=DEADLINE)
        await run.logs


async def test_front_serves_the_exposition_plain_and_gzip_and_passes_the_pages_through(
    fake: FakeRocketChat, tmp_path: Path, front_cli: object
) -> None:
    config = write_config(tmp_path, fake, poll_interval="1s")
    run = await front_cli("--config", str(config))  # type: ignore[operator]
    await scrape_until(f"{run.url}/ready", lambda body: "ready" in body)
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{run.url}/metrics", headers={"Accept-Encoding": "gzip"}) as r:
            assert r.headers["Content-Encoding"] == "gzip"
            zipped = await r.read()  # aiohttp inflated it: a valid gzip member
        async with session.get(
            f"{run.url}/metrics", headers={"Accept-Encoding": "identity"}, auto_decompress=False
        ) as r:
            assert r.status == 200 and "Content-Encoding" not in r.headers
            assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
            plain = await r.read()
        async with session.get(f"{run.url}/metrics", auto_decompress=False) as r:
            raw = await r.read()
        assert gzip.decompress(raw).startswith(b"# HELP")
        for text in (zipped.decode(), plain.decode()):
            samples = parse_exposition(text)
            for name in fake.workspaces:
                assert value(samples, "rocketchat_up", workspace=name) == 1
            # the polling process's own process_* and python_* series, not the front's
            assert (value(samples, "process_resident_memory_bytes") or 0) > 0
        promtool_check_metrics(plain.decode())
        async with session.get(f"{run.url}/") as r:
            assert r.status == 200 and r.headers["Content-Type"].startswith("text/html")
            page = await r.text()
            assert all(name in page for name in fake.workspaces)
        name = next(iter(fake.workspaces))
        async with session.get(f"{run.url}/workspace/{name}?fragment=1") as r:
            assert r.status == 200 and name in await r.text()
        async with session.get(f"{run.url}/workspace/no-such-one") as r:
            assert r.status == 404
        async with session.post(f"{run.url}/-/reload") as r:  # no --web.enable-lifecycle
            assert r.status in (404, 405)
        async with session.get(f"{run.url}/healthz") as r:
            assert await r.text() == "ok\n"


def web_config(path: Path, certificate: tuple[Path, Path], password: str) -> Path:
    hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()
    path.write_text(
        "tls_server_config:\n"
        f"  cert_file: {certificate[0]}\n"
        f"  key_file: {certificate[1]}\n"
        "http_server_config:\n"
        "  headers:\n"
        "    X-Frame-Options: deny\n"
        f"basic_auth_users:\n  scraper: '{hashed}'\n"
    )
    return path


async def test_front_applies_tls_and_basic_auth_to_every_path_counts_failures_and_reloads(
    fake: FakeRocketChat, tmp_path: Path, front_cli: object, certificate: tuple[Path, Path]
) -> None:
    config = write_config(tmp_path, fake, poll_interval="1s")
    web = web_config(tmp_path / "web.yaml", certificate, PASSWORD)
    run = await front_cli(  # type: ignore[operator]
        "--config", str(config), "--web-config", str(web), scheme="https"
    )
    client_tls = ssl.create_default_context(cafile=str(certificate[0]))
    good = basic("scraper", PASSWORD)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=client_tls)) as session:

        async def status(path: str, auth: str | None = None) -> int:
            headers = {"Authorization": auth} if auth else {}
            async with session.get(f"{run.url}{path}", headers=headers) as r:
                if r.status != 401:
                    assert r.headers["X-Frame-Options"] == "deny"
                return r.status

        async def up() -> bool:
            try:
                return await status("/ready", good) == 200
            except aiohttp.ClientError:
                return False

        await wait_for(up, "the front ready over TLS with basic auth")
        assert await status("/healthz") == 200  # the one path without auth
        for path in ("/metrics", "/ready", "/", "/workspace/x"):
            assert await status(path) == 401
        assert await status("/metrics", basic("scraper", "wrong")) == 401
        assert await status("/", good) == 200

        async def five_failures() -> bool:
            async with session.get(f"{run.url}/metrics", headers={"Authorization": good}) as r:
                samples = parse_exposition(await r.text())
            return value(samples, "rocketchat_exporter_http_auth_failures_total") == 5

        # counted in the front, rendered by the polling process: 4 paths + 1 wrong password
        await wait_for(five_failures, "5 auth failures in /metrics")

        web_config(web, certificate, "rotated")  # SIGHUP re-reads the web config in the front
        run.process.send_signal(signal.SIGHUP)
        new = basic("scraper", "rotated")

        async def new_password_works() -> bool:
            return await status("/metrics", new) == 200

        await wait_for(new_password_works, "the new password to work")
        assert await status("/metrics", good) == 401
    assert PASSWORD not in run.stderr and "rotated" not in run.stderr


async def test_a_front_that_dies_stops_the_exporter_with_exit_1(
    fake: FakeRocketChat, tmp_path: Path, front_cli: object
) -> None:
    run = await front_cli("--config", str(write_config(tmp_path, fake)))  # type: ignore[operator]
    await scrape_until(f"{run.url}/ready", lambda body: "ready" in body)
    os.kill(run.front_pid(), signal.SIGKILL)
    await asyncio.wait_for(run.process.wait(), timeout=DEADLINE)
    await run.logs
    assert run.process.returncode == 1
    assert "the front process exited" in run.stderr


async def test_a_killed_exporter_takes_its_front_down(
    fake: FakeRocketChat, tmp_path: Path, front_cli: object
) -> None:
    run = await front_cli("--config", str(write_config(tmp_path, fake)))  # type: ignore[operator]
    await scrape_until(f"{run.url}/ready", lambda body: "ready" in body)
    front = run.front_pid()
    arguments = Path(f"/proc/{front}/cmdline").read_bytes().split(b"\0")
    private = Path(json.loads(arguments[3])["internal"]).parent  # the unix socket's directory
    assert private.is_dir()
    run.process.kill()  # no chance to stop the front: it sees its stdin close
    await run.process.wait()

    def gone() -> bool:
        try:
            state = Path(f"/proc/{front}/stat").read_text().split(") ")[1][0]
        except FileNotFoundError:
            return True
        return state == "Z"  # exited, waiting for init to reap it

    await wait_for(gone, "the front process to exit")
    assert not private.exists()  # the polling process could not remove it: the front did
    port = int(run.url.rsplit(":", 1)[1])
    with socket.socket() as sock:  # and its port is free again
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))


async def test_a_busy_port_is_a_clear_error_with_a_front(
    fake: FakeRocketChat, tmp_path: Path
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        config = write_config(tmp_path, fake)
        code, _, err = await run_cli(
            "--config", str(config), "--listen", f"127.0.0.1:{port}", "--web.front-process"
        )
    assert code == 1
    assert f"cannot listen on 127.0.0.1:{port}" in err
    assert "Traceback" not in err
