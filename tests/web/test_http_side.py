"""The exporter's own HTTP side against hostile or careless clients: concurrent reloads,
basic-auth floods, idle and half-sent connections, garbage, and POST /-/reload without
--web.enable-lifecycle. Real sockets, a real exporter, the fake Rocket.Chat."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import logging
import os
import re
import resource
import signal
import socket
import ssl
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp
import bcrypt
from test_fleet_ops import write_config

from exporter.app import Exporter
from exporter.config.load import load_config
from exporter.demo.server import FakeRocketChat
from exporter.web.webconfig import WebConfig

from conftest import fast_config, parse_exposition, poll_errors, series, value, wait_for


async def start_process(
    config: Path, web_config: Path | None = None, **options: Any
) -> tuple[asyncio.subprocess.Process, int, bytes]:
    """The exporter as its own process on a free port: (process, port, log so far)."""
    web = ["--web-config", str(web_config)] if web_config else []
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "exporter", "--config", str(config), "--listen", "127.0.0.1:0",
        *web, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE, **options,
    )  # fmt: skip
    assert process.stderr is not None
    log = b""
    while b"listening on" not in log:
        log += await asyncio.wait_for(process.stderr.readline(), timeout=60)
    port = re.match(rb"\d+", log.split(b"listening on 127.0.0.1:")[1])
    assert port is not None
    return process, int(port.group()), log


def next_polls(exporter: Exporter, name: str) -> Counter[str]:
    """What will poll each endpoint of workspace `name` next: its running poll task, or the
    timer of its next poll; one of them, exactly once per endpoint, when nothing leaked."""
    prefix = f"poll {name} "
    running = Counter(  # "poll new a+b": the task that starts the optional endpoints a and b
        endpoint
        for t in asyncio.all_tasks()
        if t.get_name().startswith(prefix)
        for endpoint in t.get_name().removeprefix(prefix).split("+")
    )
    timers = Counter(
        endpoint
        for (workspace, endpoint), schedule in exporter.poller.schedules.items()
        if workspace == name and schedule.timer is not None and not schedule.timer.cancelled()
    )
    return running + timers


# -- 1 and 4: reloads ----------------------------------------------------------------------------


async def test_twenty_concurrent_reloads_leave_one_poller_per_workspace_and_no_orphan_writes(
    fake: FakeRocketChat, exporter_for: Any, tmp_path: Path, caplog: Any
) -> None:
    first = write_config(tmp_path, fake, ["old", "new"])
    exporter: Exporter | None = None

    async def reloader() -> list[str]:
        assert exporter is not None
        keep = exporter.config

        def load() -> Any:
            return dataclasses.replace(
                load_config(str(first)), listen_host=keep.listen_host, listen_port=keep.listen_port
            )

        return await exporter.reload_from(load)

    run = await exporter_for(load_config(str(first)), None, reloader, lifecycle=True)
    exporter = run.exporter
    await run.wait_until(lambda s: value(s, "rocketchat_up", workspace="new") == 1, "new up")

    # "new" moves to an address that answers 404, "old" is removed; 20 reloads at once,
    # alternating the files, the moved one written last
    moved = {"new": {"url": fake.base_url + "/ws/nowhere/"}}
    before = tmp_path / "before.yaml"
    before.write_text(first.read_text())
    after = tmp_path / "after.yaml"
    after.write_text(write_config(tmp_path, fake, ["new"], **moved).read_text())  # -> first

    async def post() -> int:
        async with run.session.post(run.exporter.url + "/-/reload") as resp:
            status: int = resp.status
            return status

    def swap_in(source: Path) -> None:  # atomically, as config management tools do
        staged = tmp_path / "staged.yaml"
        staged.write_text(source.read_text())
        os.replace(staged, first)

    posts = []
    for round_ in range(20):
        swap_in(after if round_ % 2 else before)
        posts.append(asyncio.create_task(post()))
        await asyncio.sleep(0)
    swap_in(after)
    statuses = await asyncio.gather(*posts, post())
    assert set(statuses) == {200}

    endpoints = ("info", "instances.get", "licenses.info", "licenses.maxActiveUsers")
    assert next_polls(exporter, "new") == Counter((*endpoints, "statistics.list"))
    assert next_polls(exporter, "old") == Counter()
    assert not [key for key in exporter.poller.schedules if key[0] == "old"]
    samples = await run.wait_until(
        lambda s: poll_errors(s, "new", "instances.get", "http_4xx") >= 1,
        "new fails at its new URL",
    )
    errors = poll_errors(samples, "new", "instances.get", "http_4xx")
    seen_up = set()

    def watch(s: Any) -> bool:
        seen_up.add(value(s, "rocketchat_up", workspace="new"))
        assert not series(s, "rocketchat_up", workspace="old")
        return poll_errors(s, "new", "instances.get", "http_4xx") >= errors + 5

    await run.wait_until(watch, "five more polls of the moved workspace")
    assert seen_up == {0}  # never an orphan's old data as up 1
    assert "internal error" not in caplog.text and "KeyError" not in caplog.text


async def test_post_reload_is_404_without_the_lifecycle_flag_and_sighup_still_reloads(
    fake: FakeRocketChat, tmp_path: Path
) -> None:
    config = write_config(tmp_path, fake, ["old"])
    process, port, _ = await start_process(config)
    try:
        async with aiohttp.ClientSession() as session:
            async with session.post(f"http://127.0.0.1:{port}/-/reload") as resp:
                assert resp.status == 404
            write_config(tmp_path, fake, ["old", "new"])
            process.send_signal(signal.SIGHUP)

            async def both_polled() -> bool:
                async with session.get(f"http://127.0.0.1:{port}/metrics") as resp:
                    samples = parse_exposition(await resp.text())
                return value(samples, "rocketchat_up", workspace="new") == 1

            await wait_for(both_polled, "SIGHUP added new")
    finally:
        process.terminate()
        await asyncio.wait_for(process.communicate(), timeout=30)


# -- 2: basic-auth floods ------------------------------------------------------------------------


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


async def test_a_wrong_password_flood_neither_freezes_metrics_nor_goes_uncounted(
    fake: FakeRocketChat, exporter_for: Any
) -> None:
    hashed = bcrypt.hashpw(b"right", bcrypt.gensalt(rounds=12))  # slow, as in production
    web_config = WebConfig(users={"prometheus": hashed})
    run = await exporter_for(fast_config(fake), web_config)
    right = {"Authorization": basic("prometheus", "right")}
    url = run.exporter.url + "/metrics"

    async def scrape() -> Any:
        async with run.session.get(url, headers=right) as resp:
            assert resp.status == 200
            return parse_exposition(await resp.text())

    await scrape()  # the scraper's credentials are verified once and remembered
    stop = asyncio.Event()
    answered: list[int] = []

    async def flooder(n: int) -> None:  # wrong passwords and unknown users, back to back
        i = 0
        while not stop.is_set():
            i += 1
            user = "prometheus" if i % 2 else f"nobody{n}"
            headers = {"Authorization": basic(user, f"bad{n}-{i}")}
            async with aiohttp.ClientSession() as other, other.get(url, headers=headers) as resp:
                answered.append(resp.status)

    flood = [asyncio.create_task(flooder(n)) for n in range(100)]
    stamps: list[float] = []

    async def advancing() -> bool:  # the scraper keeps seeing newer polls during the flood
        samples = await scrape()
        newest = max(
            v
            for (name, _labels), v in samples.items()
            if name == "rocketchat_exporter_last_success_timestamp_seconds"
        )
        if not stamps or newest > stamps[-1]:
            stamps.append(newest)
        return len(stamps) >= 10

    try:
        await wait_for(advancing, "ten newer expositions while the flood goes on")
        assert len(answered) >= 20  # the flood was really on meanwhile
    finally:
        stop.set()
        await asyncio.gather(*flood)
    assert set(answered) <= {401, 429}

    async def all_counted() -> bool:
        samples = await scrape()
        return value(samples, "rocketchat_exporter_http_auth_failures_total") == len(answered)

    await wait_for(all_counted, "every failure counted")


# -- 3: idle, half-sent and malformed connections ------------------------------------------------


async def raw_connect(port: int) -> socket.socket:
    """A bare socket, connected without blocking the loop the exporter runs on."""
    sock = socket.socket()
    sock.setblocking(False)
    await asyncio.wait_for(asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port)), 30)
    return sock


def closed_by_server(sock: socket.socket) -> bool:
    try:
        return sock.recv(65536) == b""
    except BlockingIOError:
        return False
    except ConnectionError:
        return True


async def open_idle_sockets(port: int, count: int) -> list[socket.socket]:
    """Half of them idle, half with a request line and one header but never the blank line."""
    sockets = []
    for i in range(count):
        sock = await raw_connect(port)
        if i % 2:
            sock.send(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
        sockets.append(sock)
    return sockets


async def test_idle_and_half_sent_connections_are_closed_after_the_header_timeout(
    fake: FakeRocketChat, exporter_for: Any
) -> None:
    run = await exporter_for(fast_config(fake), header_timeout=1.0)
    sockets = await open_idle_sockets(run.exporter.port, 60)
    await wait_for(lambda: all(closed_by_server(s) for s in sockets), "every idle socket closed")
    for sock in sockets:
        sock.close()


async def test_a_flood_of_idle_connections_cannot_lock_out_a_scraper(
    fake: FakeRocketChat, exporter_for: Any
) -> None:
    run = await exporter_for(fast_config(fake), header_timeout=50.0, max_connections=40)
    await run.wait_until(lambda s: value(s, "rocketchat_up", workspace="new") == 1, "new up")
    sockets = await open_idle_sockets(run.exporter.port, 150)
    # long before the header timeout, the oldest idle ones make room for newcomers
    await wait_for(
        lambda: sum(closed_by_server(s) for s in sockets) >= 150 - 40, "oldest idle evicted"
    )
    async with aiohttp.ClientSession() as other, other.get(run.exporter.url + "/metrics") as resp:
        assert resp.status == 200 and "rocketchat_up" in await resp.text()
    assert len(run.exporter.listener.runner.server.connections) <= 40
    for sock in sockets:
        sock.close()


async def test_more_idle_sockets_than_file_descriptors_neither_lock_out_nor_flood_the_log(
    fake: FakeRocketChat, tmp_path: Path
) -> None:
    """The issue's scenario in a real process: an open-files limit of 256 (soft and hard, so
    it cannot be raised) and 400 idle or half-sent connections."""
    config = write_config(tmp_path, fake, ["old"])

    def limit_files() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))

    process, port, log = await start_process(config, preexec_fn=limit_files)
    sockets = await open_idle_sockets(port, 400)
    try:
        for _ in range(5):
            url = f"http://127.0.0.1:{port}/metrics"
            async with aiohttp.ClientSession() as other, other.get(url) as resp:
                assert resp.status == 200
    finally:
        for sock in sockets:
            sock.close()
        process.terminate()
        _, rest = await asyncio.wait_for(process.communicate(), timeout=30)
    lines = (log + rest).decode().splitlines()
    assert "Traceback" not in "\n".join(lines)
    assert len(lines) < 30, lines[:40]


async def test_garbage_requests_are_logged_a_few_times_without_tracebacks(
    fake: FakeRocketChat, exporter_for: Any, caplog: Any
) -> None:
    caplog.set_level(logging.DEBUG, logger="aiohttp.server")
    run = await exporter_for(fast_config(fake))
    for i in range(200):
        reader, writer = await asyncio.open_connection("127.0.0.1", run.exporter.port)
        writer.write(
            b"GET /metrics HTTP/1.1\r\nHost: x\r\nBad Header\x00: " + bytes([i % 256]) + b"\r\n\r\n"
        )
        await reader.read()
        writer.close()
    status, _, _ = await run.get("/healthz")
    assert status == 200
    records = [
        r for r in caplog.records if r.name == "aiohttp.server" and r.levelno >= logging.INFO
    ]
    assert 1 <= len(records) <= 10
    assert all(r.exc_info is None and "Traceback" not in r.getMessage() for r in records)


def test_the_soft_open_files_limit_is_raised_to_the_hard_one() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    script = (
        "import resource; r = resource.RLIMIT_NOFILE; "
        "resource.setrlimit(r, (256, resource.getrlimit(r)[1])); "
        "from exporter.web.server import raise_fd_limit; raise_fd_limit(); "
        "print(resource.getrlimit(r)[0])"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    raised = int(done.stdout)
    assert raised > 256 and (raised == hard or hard == resource.RLIM_INFINITY)
    _ = soft, dataclasses


# -- SIGHUP re-reads --web-config: rotated certificates and changed users ----------------------


def self_signed(folder: Path, name: str) -> tuple[Path, Path]:
    cert, key = folder / f"{name}.crt", folder / f"{name}.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", f"/CN={name}", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return cert, key


async def test_sighup_rotates_the_certificate_and_users_and_keeps_them_when_broken(
    fake: FakeRocketChat, tmp_path: Path
) -> None:
    first, second = self_signed(tmp_path, "first"), self_signed(tmp_path, "second")
    live_cert, live_key = tmp_path / "tls.crt", tmp_path / "tls.key"
    web = tmp_path / "web.yml"

    def install(pair: tuple[Path, Path], password: bytes) -> None:
        live_cert.write_bytes(pair[0].read_bytes())
        live_key.write_bytes(pair[1].read_bytes())
        hashed = bcrypt.hashpw(password, bcrypt.gensalt(rounds=4)).decode()
        web.write_text(
            "tls_server_config: {cert_file: tls.crt, key_file: tls.key}\n"
            f"basic_auth_users: {{prometheus: '{hashed}'}}\n"
        )

    install(first, b"one")
    config = write_config(tmp_path, fake, ["old"])
    process, port, _ = await start_process(config, web_config=web)
    url = f"https://127.0.0.1:{port}/metrics"

    async def status(trust: Path, password: str) -> int:
        context = ssl.create_default_context(cafile=str(trust))
        headers = {"Authorization": basic("prometheus", password)}
        try:
            async with (
                aiohttp.ClientSession() as session,
                session.get(url, ssl=context, headers=headers) as resp,
            ):
                return resp.status
        except aiohttp.ClientError:
            return 0  # e.g. the certificate is not the trusted one

    try:
        assert await status(first[0], "one") == 200
        install(second, b"two")
        process.send_signal(signal.SIGHUP)

        async def rotated() -> bool:
            return await status(second[0], "two") == 200

        await wait_for(rotated, "the new certificate and password in use")
        assert await status(first[0], "one") == 0  # the old certificate is gone
        assert await status(second[0], "one") == 401  # and the old password
        web.write_text("tls_server_config: {cert_file: missing.crt, key_file: tls.key}\n")
        process.send_signal(signal.SIGHUP)
        assert process.stderr is not None
        log = b""
        while b"web config reload rejected" not in log:
            log += await asyncio.wait_for(process.stderr.readline(), timeout=60)
        assert await status(second[0], "two") == 200  # the running one goes on
    finally:
        process.terminate()
        await asyncio.wait_for(process.communicate(), timeout=30)


async def test_a_reload_storm_during_https_scrapes_refuses_no_connection(
    fake: FakeRocketChat, tmp_path: Path, exporter_for: Any
) -> None:
    """Reloading the web config swaps the TLS context for new handshakes without closing the
    listening socket: 30 reloads (one of them with a certificate rotated in) while 150 scrapes,
    each on a new connection, meet no refused, reset or failed handshake; a web config that
    fails to load leaves the running one serving, and is counted."""
    from exporter.web.webconfig import load_web_config

    first, second = self_signed(tmp_path, "first"), self_signed(tmp_path, "second")
    live_cert, live_key = tmp_path / "tls.crt", tmp_path / "tls.key"
    live_cert.write_bytes(first[0].read_bytes())
    live_key.write_bytes(first[1].read_bytes())
    web = tmp_path / "web.yml"
    web.write_text("tls_server_config: {cert_file: tls.crt, key_file: tls.key}\n")
    run = await exporter_for(fast_config(fake), load_web_config(str(web)))
    trust = ssl.create_default_context(cafile=str(first[0]))
    trust.load_verify_locations(cafile=str(second[0]))  # either certificate is good
    failures: list[str] = []
    done = 0

    async def scrape() -> None:
        nonlocal done
        connector = aiohttp.TCPConnector(ssl=trust, force_close=True)
        async with aiohttp.ClientSession(connector=connector) as session:
            for _ in range(150):
                try:
                    async with session.get(run.exporter.url + "/healthz") as resp:
                        if resp.status != 200:
                            failures.append(str(resp.status))
                except aiohttp.ClientError as exc:
                    failures.append(repr(exc))
                done += 1

    async def storm() -> None:
        for n in range(30):
            if n == 15:
                live_cert.write_bytes(second[0].read_bytes())
                live_key.write_bytes(second[1].read_bytes())
            assert await run.exporter.reload_web_config(str(web)) == []
            await asyncio.sleep(0.01)

    await asyncio.wait_for(asyncio.gather(scrape(), storm()), 120)
    assert (done, failures) == (150, [])
    # a web config that fails to load leaves the running context serving
    web.write_text("tls_server_config: {cert_file: missing.crt, key_file: tls.key}\n")
    assert await run.exporter.reload_web_config(str(web)) != []
    assert run.exporter.state.reload_failures == {"config": 0, "web_config": 1}  # and counted
    only_second = ssl.create_default_context(cafile=str(second[0]))
    async with (
        aiohttp.ClientSession() as session,
        session.get(run.exporter.url + "/healthz", ssl=only_second) as resp,
    ):
        assert resp.status == 200
