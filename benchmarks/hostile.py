"""Hostile peers, measured: python benchmarks/hostile.py [--quick] [--only PART]. Prints JSON.

slot_wait:   a workspace whose 1000 instances accept health probes and never answer, beside a
             good workspace polled every second (max_concurrency 64, timeout 10 s): the good
             workspace's longest poll, and the hostile health poll's duration.
stalled:     200 clients that send GET /metrics (plain, a multi-MB exposition) and never read:
             the exporter's RSS per stalled client, and how many are closed 65 s later.
status_page: gzip /metrics p50 / p99 at 10 000 workspaces, idle and while two clients reload
             the fleet page without pause.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))

from bench import wait_ready  # noqa: E402
from fleet import write_config  # noqa: E402
from render_cost import answers, new_state  # noqa: E402

from exporter.app import Exporter  # noqa: E402
from exporter.demo.fleet import FakeInstance, FakeWorkspace, make_statistics  # noqa: E402
from exporter.demo.landscape import config_for  # noqa: E402
from exporter.demo.server import FakeRocketChat  # noqa: E402
from exporter.exposition.publisher import Publisher  # noqa: E402
from exporter.web.app import make_app  # noqa: E402


async def slot_wait(instances: int, seconds: float) -> dict[str, float]:
    held: list[asyncio.StreamWriter] = []

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    hole = await asyncio.start_server(accept, "127.0.0.1", 0)
    port = str(hole.sockets[0].getsockname()[1])
    hostile = FakeWorkspace(
        name="hostile",
        instances=[FakeInstance(f"h{i}", "127.0.0.1", port=port) for i in range(instances)],
        statistics=[make_statistics("8.8.1", time.time(), 10)],
    )
    good = FakeWorkspace(
        name="good",
        instances=[FakeInstance("g", "10.0.0.1", local=True)],
        statistics=[make_statistics("8.8.1", time.time(), 10)],
    )
    fake = FakeRocketChat([hostile, good])
    await fake.start()
    config = config_for(fake, poll_interval=1.0, statistics_interval=1.0, timeout=10.0)
    config = dataclasses.replace(
        config,
        listen_host="127.0.0.1",
        listen_port=0,
        max_concurrency=64,
        workspaces=tuple(
            dataclasses.replace(w, collectors=(("health", 1.0),) if w.name == "hostile" else ())
            for w in config.workspaces
        ),
    )
    exporter = Exporter(config)
    await exporter.start()
    longest = health = 0.0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        await asyncio.sleep(0.5)
        status = exporter.state.workspaces["good"].status["instances.get"]
        longest = max(longest, status.duration_seconds or 0.0)
        probe = exporter.state.workspaces["hostile"].status.get("health")
        if probe is not None and probe.duration_seconds is not None:
            health = max(health, probe.duration_seconds)
    await exporter.stop()
    await fake.stop()
    hole.close()
    for writer in held:
        writer.close()
    return {"good_longest_poll_s": longest, "hostile_health_poll_s": health}


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


async def stalled(count: int, workspaces: int, wait: float) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        url_file = tmp / "fleet-url"
        fleet = subprocess.Popen(
            [sys.executable, str(HERE / "fake_server.py"), str(workspaces), "0", "normal",
             str(url_file)]
        )  # fmt: skip
        try:
            while not (url_file.exists() and url_file.read_text()):
                await asyncio.sleep(0.05)
            config = write_config(tmp / "c.yaml", url_file.read_text(), workspaces)
            with socket.socket() as probe:
                probe.bind(("127.0.0.1", 0))
                port = probe.getsockname()[1]
            exporter = subprocess.Popen(
                [sys.executable, "-m", "exporter", "--config", str(config), "--listen",
                 f"127.0.0.1:{port}", "--log-level", "error"]
            )  # fmt: skip
            try:
                return await _stall(exporter.pid, port, count, wait)
            finally:
                exporter.terminate()
                exporter.wait(10)
        finally:
            fleet.terminate()
            fleet.wait(10)


async def _stall(pid: int, port: int, count: int, wait: float) -> dict[str, float]:
    url = f"http://127.0.0.1:{port}"
    async with aiohttp.ClientSession() as session:
        await wait_ready(session, url)
        async with session.get(url + "/metrics") as resp:
            size = len(await resp.read())
    await asyncio.sleep(3)
    before = rss_kib(pid)
    clients = []
    for _ in range(count):
        client = socket.socket()
        client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        client.connect(("127.0.0.1", port))
        client.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        clients.append(client)
    await asyncio.sleep(5)
    during = rss_kib(pid)
    started = time.monotonic()
    times = []
    async with aiohttp.ClientSession() as session:
        for _ in range(20):
            t0 = time.perf_counter()
            async with session.get(url + "/metrics") as resp:
                await resp.read()
            times.append(time.perf_counter() - t0)
    await asyncio.sleep(max(0.0, wait - (time.monotonic() - started)))
    closed = 0
    for client in clients:
        client.setblocking(False)
        try:
            while client.recv(1 << 20):
                pass
        except BlockingIOError:
            continue  # still open: data or nothing yet, no end
        except OSError:
            pass
        closed += 1
        client.close()
    for client in clients:
        client.close()
    return {
        "exposition_bytes": size,
        "rss_per_stalled_kib": (during - before) / count,
        "rss_added_mib": (during - before) / 1024,
        "closed_after_s": wait,
        "closed": closed,
        "scrape_p50_ms_meanwhile": statistics.median(times) * 1000,
    }


async def status_page_load(count: int, scrapes: int) -> dict[str, float]:
    state = new_state(answers(count))
    publisher = Publisher(state)
    await publisher.render()
    app = make_app(state)
    runner = aiohttp.web.AppRunner(app, access_log=None)
    await runner.setup()
    site = aiohttp.web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    url = f"http://127.0.0.1:{port}"
    result: dict[str, float] = {}
    # the scrape is timed, not the client's decompression of 158 MB
    async with aiohttp.ClientSession(auto_decompress=False) as session:
        await wait_ready(session, url)

        async def timed() -> list[float]:
            times = []
            for _ in range(scrapes):
                t0 = time.perf_counter()
                async with session.get(url + "/metrics", headers={"Accept-Encoding": "gzip"}) as r:
                    await r.read()
                times.append(time.perf_counter() - t0)
            return sorted(times)

        idle = await timed()
        stop = asyncio.Event()

        async def tab() -> None:
            async with aiohttp.ClientSession() as own:
                while not stop.is_set():
                    async with own.get(url + "/?fragment=1") as resp:
                        await resp.read()

        tabs = [asyncio.create_task(tab()) for _ in range(2)]
        loaded = await timed()
        stop.set()
        await asyncio.gather(*tabs)
    await runner.cleanup()
    for name, times in (("idle", idle), ("page_loaded", loaded)):
        result[f"{name}_p50_ms"] = times[len(times) // 2] * 1000
        result[f"{name}_p99_ms"] = times[int(len(times) * 0.99) - 1] * 1000
    return result


async def main() -> None:
    quick = "--quick" in sys.argv
    only = sys.argv[sys.argv.index("--only") + 1] if "--only" in sys.argv else ""
    found: dict[str, Any] = {}
    if only in ("", "slot_wait"):
        found["slot_wait"] = await slot_wait(100 if quick else 1000, 5 if quick else 30)
    if only in ("", "stalled"):
        found["stalled"] = await stalled(
            10 if quick else 200, 20 if quick else 300, 3 if quick else 65
        )
    if only in ("", "status_page"):
        found["status_page"] = await status_page_load(
            100 if quick else 10_000, 20 if quick else 200
        )
    print(json.dumps(found, indent=1))


if __name__ == "__main__":
    asyncio.run(main())
