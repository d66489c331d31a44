"""Slow readers against a changing exposition: python benchmarks/slowreaders.py [--quick]
[--json]. Prints the exporter's RSS growth and a normal scrape's statuses, with the in-flight
bounds (exporter/web/inflight.py) and without them (the baseline: every answer keeps its
version as long as its reader takes).

The exporter runs as a process of its own (`serve`): the real web stack (Exporter: listener,
guard, /metrics handler) with an exposition of SIZE bytes that a new version replaces every
EVERY seconds (the publisher's render is replaced by that: what is measured is what answers
in flight hold, not what polling costs). READERS clients, started STAGGER seconds apart, each
read 512 bytes every 2 s; meanwhile a normal client scrapes every second.

The issue's case: 10 MB, a new version every 2 s, 120 readers (--full; minutes). --quick
(the test's case) changes the version every 0.1 s and starts a reader every 0.05 s, so that
the readers hold about as many versions in seconds as the full case does in minutes."""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
READ = 512


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def serve(port: int, size: int, every: float, bounded: bool) -> None:
    """The exporter with a synthetic exposition that changes every `every` seconds."""
    from exporter.app import Exporter
    from exporter.exposition.publisher import Publisher
    from exporter.model.config import Config
    from exporter.web.app import INFLIGHT_KEY, PUBLISHER_KEY

    async def no_render(self: Publisher) -> None:
        await asyncio.Event().wait()

    Publisher.run = no_render  # type: ignore[method-assign]
    exporter = Exporter(Config(listen_host="127.0.0.1", listen_port=port, workspaces=()))
    await exporter.start()
    assert exporter.app is not None
    publisher = exporter.app[PUBLISHER_KEY]
    if not bounded:  # the baseline: no cap, no budget
        exporter.app[INFLIGHT_KEY].max_answers = 1 << 30
        exporter.app[INFLIGHT_KEY].budget = 1 << 50
    line = b'rocketchat_workspace_messages{workspace="w%07d"} 12345\n'
    base = b"".join(line % n for n in range(size // len(line % 0)))
    version = 0
    while True:
        version += 1
        publisher.generation, publisher.gzip_current = version, False
        publisher._joined = b"# version %d\n" % version + base  # a new object each time
        await asyncio.sleep(every)


async def reader(port: int, stop: float) -> None:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    try:
        await loop.sock_connect(sock, ("127.0.0.1", port))
        await loop.sock_sendall(sock, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        while time.monotonic() < stop:
            if not await loop.sock_recv(sock, READ):
                return
            await asyncio.sleep(2)
    except OSError:
        pass  # aborted by the exporter (what is left in the socket buffer is read first)
    finally:
        sock.close()


async def scraper(port: int, stop: float, statuses: list[int]) -> None:
    import aiohttp

    async with aiohttp.ClientSession() as session:
        while time.monotonic() < stop:
            try:
                async with session.get(f"http://127.0.0.1:{port}/metrics") as resp:
                    await resp.read()
                    statuses.append(resp.status)
            except aiohttp.ClientError:
                statuses.append(0)
            await asyncio.sleep(1)


async def measure(
    bounded: bool, size: int, every: float, readers: int, stagger: float, hold: float
) -> dict[str, Any]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, str(Path(__file__)), "serve", str(port), str(size), str(every),
         "bounded" if bounded else "unbounded"]
    )  # fmt: skip
    try:
        import aiohttp

        async with aiohttp.ClientSession() as session:
            for _ in range(600):
                try:
                    async with session.get(f"http://127.0.0.1:{port}/metrics") as resp:
                        exposition = len(await resp.read())
                        break
                except aiohttp.ClientError:
                    await asyncio.sleep(0.05)
            else:
                raise RuntimeError("the exporter did not start")
        before = rss_mib(server.pid)
        stop = time.monotonic() + readers * stagger + hold
        statuses: list[int] = []
        tasks = [asyncio.create_task(scraper(port, stop, statuses))]
        peak = before
        for _ in range(readers):
            tasks.append(asyncio.create_task(reader(port, stop)))
            await asyncio.sleep(stagger)
            peak = max(peak, rss_mib(server.pid))
        while time.monotonic() < stop:
            await asyncio.sleep(0.2)
            peak = max(peak, rss_mib(server.pid))
        await asyncio.gather(*tasks)
        return {
            "bounded": bounded,
            "exposition_mb": round(exposition / 1e6, 1),
            "rss_before_mib": round(before, 1),
            "rss_peak_mib": round(peak, 1),
            "rss_growth_mib": round(peak - before, 1),
            "scrapes": len(statuses),
            "scrapes_not_200": sum(1 for s in statuses if s != 200),
        }
    finally:
        server.terminate()
        server.wait(10)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "serve":
        _, _, port, size, every, mode = sys.argv
        asyncio.run(serve(int(port), int(size), float(every), mode == "bounded"))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the test's accelerated case")
    parser.add_argument("--only-bounded", action="store_true", help="skip the baseline")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.quick:
        case = {"size": 10_000_000, "every": 0.1, "readers": 120, "stagger": 0.05, "hold": 4.0}
    else:
        case = {"size": 10_000_000, "every": 2.0, "readers": 120, "stagger": 2.0, "hold": 10.0}
    modes = (True,) if args.only_bounded else (False, True)
    results = [asyncio.run(measure(bounded, **case)) for bounded in modes]  # type: ignore[arg-type]
    if args.json:
        print(json.dumps({"case": case, "results": results}))
        return
    print(f"case: {case}")
    keys = [k for k in results[0] if k != "bounded"]
    print(f"{'':24}" + "".join(f"{'bounded' if r['bounded'] else 'baseline':>12}" for r in results))
    for key in keys:
        print(f"{key:24}" + "".join(f"{r[key]!s:>12}" for r in results))


if __name__ == "__main__":
    main()
