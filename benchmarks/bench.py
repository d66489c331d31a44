#!/usr/bin/env python3
"""Fleet-scale benchmark of the exporter, side by side with baselines measured in the same run.

    make bench                                  # full run, writes benchmarks/RESULTS.md
    python benchmarks/bench.py --sizes 10,100 --scrapes 50 --no-write   # a quick look

Everything runs on loopback in separate processes: the fake Rocket.Chat fleet, the exporter, and
the two baseline /metrics servers, so no process's CPU is counted for another. Prints tables;
asserts nothing about time (the machine is shared and noisy).
"""

from __future__ import annotations

import argparse
import asyncio
import compileall
import contextlib
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))

from fleet import write_config  # noqa: E402

from exporter.collecting.registry import enabled  # noqa: E402
from exporter.model.config import TokenAuth, WorkspaceConfig  # noqa: E402


@dataclass
class Latency:
    p50: float
    p99: float
    size: int

    def cell(self) -> str:
        return f"{self.p50 * 1000:.2f} / {self.p99 * 1000:.2f}"


class Process:
    """A child process that announces its URL in a file."""

    def __init__(self, args: list[str], url_file: Path | None = None) -> None:
        self.url_file = url_file
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(
            [sys.executable, *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )

    def url(self, deadline: float = 60) -> str:
        assert self.url_file is not None
        end = time.monotonic() + deadline
        while not (self.url_file.exists() and self.url_file.read_text()):
            if self.proc.poll() is not None or time.monotonic() > end:
                raise RuntimeError(f"process failed: {self.proc.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]
            time.sleep(0.01)
        return self.url_file.read_text()

    def rss_mib(self) -> float:
        return rss_mib(self.proc.pid)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


WARM_UP = 5  # scrapes before the timed ones, for the exporter and the baselines alike
# under load, p99 is what is compared: three times the scrapes, so that it is the 6th slowest
# of 600 rather than the 2nd of 200 (two identical servers, 300 scrapes each under 1 s
# polling, measured up to 2.3x apart in gzip p99)
LOAD_SCRAPES = 3


async def timed_scrape(
    session: aiohttp.ClientSession, url: str, headers: dict[str, str]
) -> tuple[float, int]:
    """One scrape: (seconds from request to the last byte, body size)."""
    start = time.perf_counter()
    async with session.get(url, headers=headers, auto_decompress=False) as resp:
        body = await resp.read()
    return time.perf_counter() - start, len(body)


def summarize(times: list[float], size: int) -> Latency:
    times = sorted(times)
    return Latency(
        statistics.median(times), times[min(len(times) - 1, int(len(times) * 0.99))], size
    )


def encoding(gzip: bool) -> dict[str, str]:
    return {"Accept-Encoding": "gzip" if gzip else "identity"}


async def scrape_latency(
    session: aiohttp.ClientSession, url: str, count: int, gzip: bool
) -> Latency:
    headers = encoding(gzip)
    # not timed: the first requests of a connection and a process (not for the few scrapes
    # of a server that renders at each: seconds each at N = 10 000)
    for _ in range(WARM_UP if count >= 20 else 0):
        await timed_scrape(session, url, headers)
    times, size = [], 0
    for _ in range(count):
        took, size = await timed_scrape(session, url, headers)
        times.append(took)
    return summarize(times, size)


async def scrape_both(
    session: aiohttp.ClientSession, url: str, count: int, prefix: str
) -> dict[str, Latency]:
    """`count` scrapes of url, plain and gzip, as {prefix_plain, prefix_gzip}."""
    return {
        f"{prefix}_{'gzip' if gzip else 'plain'}": await scrape_latency(session, url, count, gzip)
        for gzip in (False, True)
    }


async def scrape_interleaved(
    session: aiohttp.ClientSession, urls: dict[str, str], count: int
) -> dict[str, Latency]:
    """`count` scrapes of each server, plain then gzip, taken in turns (the order rotating
    every round), so that every server is measured at the same moments, under the same load:
    measured one after the other, each saw a different stretch of a busy machine. Keys:
    {name}_plain, {name}_gzip; plus static_plain and static_gzip, the two (a) servers
    (static1, static2) pooled."""
    result = {}
    for gzip in (False, True):
        headers = encoding(gzip)
        kind = "gzip" if gzip else "plain"
        times: dict[str, list[float]] = {name: [] for name in urls}
        sizes = dict.fromkeys(urls, 0)
        for url in urls.values():
            for _ in range(WARM_UP):
                await timed_scrape(session, url, headers)
        order = list(urls)
        for _ in range(count):
            order = order[1:] + order[:1]
            for name in order:
                took, sizes[name] = await timed_scrape(session, urls[name], headers)
                times[name].append(took)
        for name in urls:
            result[f"{name}_{kind}"] = summarize(times[name], sizes[name])
        result[f"static_{kind}"] = summarize(times["static1"] + times["static2"], sizes["static1"])
    return result


def start_baseline(tmp: Path, mode: str, exposition: Path, *extra: str, name: str = "") -> Process:
    """A baseline server (baselines.py MODE) on the exposition; `name` tells two of one mode
    apart."""
    url_file = tmp / f"baseline-{name or mode}-{exposition.stem}"
    return Process(
        [str(HERE / "baselines.py"), mode, str(exposition), str(url_file), *extra], url_file
    )


async def scrape_baseline(
    session: aiohttp.ClientSession,
    tmp: Path,
    mode: str,
    exposition: Path,
    count: int,
    *extra: str,
) -> dict[str, Latency]:
    """Start a baseline server (baselines.py MODE) on the exposition, scrape it `count` times
    plain and gzip, stop it."""
    baseline = start_baseline(tmp, mode, exposition, *extra)
    try:
        return await scrape_both(session, baseline.url() + "/metrics", count, mode)
    finally:
        baseline.stop()


@contextlib.asynccontextmanager
async def static_servers(tmp: Path, exposition: Path) -> AsyncIterator[dict[str, str]]:
    """Two baseline (a) servers on the exposition, {static1: url, static2: url}: two identical
    servers measured side by side show how far apart the same thing measures on this machine
    (the resolution of every ratio to (a)); pooled, they are (a) with twice the samples."""
    servers = []
    try:
        for index in (1, 2):
            servers.append(start_baseline(tmp, "static", exposition, name=f"static{index}"))
        yield {f"static{i}": server.url() + "/metrics" for i, server in enumerate(servers, 1)}
    finally:
        for server in servers:
            server.stop()


def apart(result: dict[str, Latency], kind: str, quantile: str) -> float:
    """How far apart the two (a) servers measured: the larger figure over the smaller."""
    first = getattr(result[f"static1_{kind}"], quantile)
    second = getattr(result[f"static2_{kind}"], quantile)
    return float(max(first, second) / min(first, second))


async def wait_ready(session: aiohttp.ClientSession, url: str, deadline: float = 300) -> None:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        try:
            async with session.get(url + "/ready") as resp:
                if resp.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.005)
    raise RuntimeError("exporter not ready in time")


OPTIONS = {"collectors": "default", "smoke": ""}  # set from the command line


def pause(seconds: float) -> float:
    """A settling wait of the measurement; a tenth of it in --smoke (the harness checked end to
    end in seconds by make test; its figures then mean nothing)."""
    return seconds / 10 if OPTIONS["smoke"] else seconds


def few(scrapes: int, count: int) -> int:
    """Scrapes of a fast server: all of them, but at most 50 of a 150 MB exposition."""
    return scrapes if count < 10_000 else min(scrapes, 50)


def slow(scrapes: int, count: int) -> int:
    """Scrapes of a server that renders at every scrape (0.7 s at N = 1000, 8 s at 10 000)."""
    return scrapes if count <= 100 else max(20, scrapes // 10) if count < 10_000 else 3


SERIES_PER_WORKSPACE = 90  # at least: 5 instances (4 connected) with conns, statistics


async def full_exposition(session: aiohttp.ClientSession, url: str, count: int) -> str:
    """The exposition once the first round (core, then optional collectors) is rendered: the
    background render trails /ready, and renders at most every max(1 s, 5x its cost) — about
    15 s at N = 10 000 — so wait for a series count that holds still that long."""
    settle = 2 + count / 500
    previous, since, text = -1, time.monotonic(), ""
    for _ in range(6000):
        async with session.get(url + "/metrics") as resp:
            text = await resp.text()
        series = sum(1 for line in text.splitlines() if line.startswith("rocketchat_"))
        if series != previous:
            previous, since = series, time.monotonic()
        elif time.monotonic() - since >= settle and series >= SERIES_PER_WORKSPACE * count:
            break
        await asyncio.sleep(0.1)
    return text


async def wait_healthy(session: aiohttp.ClientSession, url: str, exporter: Process) -> float:
    """Seconds from process start to the first /healthz answer (interpreter, imports, config)."""
    while True:
        try:
            async with session.get(url + "/healthz") as resp:
                if resp.status == 200:
                    return time.perf_counter() - exporter.started
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.005)


def start_fleet(tmp: Path, count: int, latency: float, mode: str) -> tuple[Process, str]:
    url_file = tmp / f"fleet-{count}-{mode}-{time.monotonic_ns()}"
    fleet = Process(
        [str(HERE / "fake_server.py"), str(count), str(latency), mode, str(url_file)], url_file
    )
    return fleet, fleet.url()


def start_exporter(config: Path, port: int, *flags: str) -> Process:
    return Process(
        [
            "-m",
            "exporter",
            "--config",
            str(config),
            "--listen",
            f"127.0.0.1:{port}",
            "--log-level",
            "error",
            *flags,
        ]
    )


async def first_round(
    session: aiohttp.ClientSession, url: str, exporter: Process, count: int
) -> tuple[dict[str, Any], str]:
    """Start-up times, then RSS and series once the first round is in; and the exposition."""
    result: dict[str, Any] = {"n": count}
    result["listening_s"] = await wait_healthy(session, url, exporter)
    await wait_ready(session, url)
    result["ready_s"] = time.perf_counter() - exporter.started
    text = await full_exposition(session, url, count)
    # steady RSS, not the moment of one render's buffers: the median of 10 samples over 5 s
    # (renders run every few seconds at large N), and their largest
    samples = []
    for _ in range(2 if OPTIONS["smoke"] else 10):
        samples.append(exporter.rss_mib())
        await asyncio.sleep(pause(0.5))
    result["rss_mib"] = statistics.median(samples)
    result["rss_max_mib"] = max(samples)
    # the fleet's series (the self-metrics, ~40 process_*/python_* lines, not counted)
    result["series"] = sum(1 for line in text.splitlines() if line.startswith("rocketchat_"))
    return result, text


@contextlib.asynccontextmanager
async def running(
    tmp: Path,
    name: str,
    count: int,
    latency: float,
    mode: str = "normal",
    **config: Any,
) -> AsyncIterator[tuple[Process, Process, str, aiohttp.ClientSession]]:
    """A fake fleet, an exporter polling it (config file `name`; the collectors of the command
    line unless given) and a client session: (fleet, exporter, exporter URL, session)."""
    fleet, fleet_url = start_fleet(tmp, count, latency, mode)
    config.setdefault("collectors", OPTIONS["collectors"])
    path = write_config(tmp / f"{name}-{count}.yaml", fleet_url, count, **config)
    port = free_port()
    exporter = start_exporter(path, port)
    try:
        async with aiohttp.ClientSession() as session:
            yield fleet, exporter, f"http://127.0.0.1:{port}", session
    finally:
        exporter.stop()
        fleet.stop()


async def memory_run(tmp: Path, count: int, collectors: str) -> dict[str, Any]:
    """Start-up and RSS only, with the given collectors (core: the issue's ~900 000 series)."""
    async with running(tmp, "memory", count, 0.0, collectors=collectors) as run:
        _, exporter, url, session = run
        result, _ = await first_round(session, url, exporter, count)
    return result | {"collectors": collectors}


async def size_run(tmp: Path, count: int, scrapes: int) -> dict[str, Any]:
    """Idle scrapes of the exporter and both baselines, RSS and start-up, for one fleet size."""
    async with running(tmp, "config", count, 0.0) as run:
        _, exporter, url, session = run
        result, text = await first_round(session, url, exporter, count)
        exposition = tmp / f"exposition-{count}.txt"
        exposition.write_text(text)
        async with static_servers(tmp, exposition) as static:
            urls = {"exporter": url + "/metrics", **static}
            result |= await scrape_interleaved(session, urls, few(scrapes, count))
        # the stock way is slow at large N: fewer scrapes keep the run short
        result |= await scrape_baseline(session, tmp, "client", exposition, slow(scrapes, count))
        if count <= 1000:  # start-up varies run to run: the median of three starts
            starts = [(result["listening_s"], result["ready_s"])]
            for _ in range(2):
                starts.append(await start_times(session, tmp / f"config-{count}.yaml"))
            result["listening_s"] = statistics.median(t for t, _ in starts)
            result["ready_s"] = statistics.median(t for _, t in starts)
            result["ready_range"] = (min(t for _, t in starts), max(t for _, t in starts))
    return result


async def start_times(session: aiohttp.ClientSession, config: Path) -> tuple[float, float]:
    """One more start of the exporter on a fleet already running: (to /healthz, to /ready)."""
    port = free_port()
    exporter = start_exporter(config, port)
    try:
        url = f"http://127.0.0.1:{port}"
        listening = await wait_healthy(session, url, exporter)
        await wait_ready(session, url)
        return listening, time.perf_counter() - exporter.started
    finally:
        exporter.stop()


async def busy_run(tmp: Path, count: int, scrapes: int, mode: str) -> dict[str, Any]:
    """Scrapes while every workspace is being polled (every 5 s, or every 1 s: saturated), or
    while every workspace hangs until its timeout. All start from a full first round, so the
    exposition is as large as when idle."""
    load = mode
    interval = {"poll-5s": "5s", "poll-1s": "1s", "hang": "1s"}[load]
    fleet_mode = "hang-on-signal" if load == "hang" else "normal"
    options = {"poll_interval": interval, "statistics_interval": interval, "timeout": "30s"}
    async with running(tmp, f"busy-{mode}", count, 0.1, fleet_mode, **options) as run:
        fleet, _, url, session = run
        await wait_ready(session, url)
        if load == "hang":
            fleet.proc.send_signal(signal.SIGUSR1)
            await asyncio.sleep(pause(2.5))  # every workspace's next polls are sent and hang
        else:
            await asyncio.sleep(pause(float(interval[:-1])))  # past the first round's burst
        async with session.get(url + "/metrics") as resp:
            exposition = tmp / f"busy-exposition-{mode}.txt"
            exposition.write_text(await resp.text())
        # baseline (a) scraped under the very same load, in turns with the exporter: separates
        # the exporter's design from a machine whose two cores are busy with the fake fleet
        # and the polls
        async with static_servers(tmp, exposition) as static:
            result: dict[str, Any] = await scrape_interleaved(
                session, {"exporter": url + "/metrics", **static}, scrapes
            )
        return result


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def standard_run(tmp: Path, count: int, scrapes: int) -> dict[str, Any]:
    """The fair comparison: every workspace polled every 30 s (statistics, info and licenses
    every 5 min), 100 ms server latency. The exporter is scraped while its polls land; (b')
    is prometheus_client re-rendering when data changed (at the same rate of changes), and
    (a) the same bytes pre-rendered. Plus the render CPU per second of each (render_cost.py)."""
    result: dict[str, Any] = {"n": count}
    async with running(tmp, "standard", count, 0.1) as run:
        _, _, url, session = run
        await wait_ready(session, url)
        text = await full_exposition(session, url, count)
        await asyncio.sleep(pause(3))  # past the first round: polls now land spread over 30 s
        exposition = tmp / f"standard-exposition-{count}.txt"
        exposition.write_text(text)
        async with static_servers(tmp, exposition) as static:
            urls = {"exporter": url + "/metrics", **static}
            result |= await scrape_interleaved(session, urls, few(scrapes, count))
        changes = str(count / 30 * 1.4)  # instances.get every 30 s, 4 more every 5 min
        result |= await scrape_baseline(
            session, tmp, "cached", exposition, slow(scrapes, count), changes
        )
    out = subprocess.run(
        [
            sys.executable,
            str(HERE / "render_cost.py"),
            str(count),
            "1" if OPTIONS["smoke"] else "15",
        ],
        capture_output=True,
        text=True,
        timeout=900,
        check=True,
    )
    result["render"] = json.loads(out.stdout)
    return result


def gc_pauses(count: int) -> dict[str, dict[str, Any]]:
    """GC pauses and the longest loop stall at the standard cadence, with the serving
    process's GC settings and with ROCKETCHAT_EXPORTER_GC_TUNING=off (gc_pauses.py)."""
    seconds = "90" if count >= 1000 else "1" if OPTIONS["smoke"] else "2"
    found = {}
    for mode in ("on", "off"):
        out = subprocess.run(
            [sys.executable, str(HERE / "gc_pauses.py"), str(count), seconds],
            capture_output=True,
            text=True,
            timeout=900,
            check=True,
            env={**os.environ, "ROCKETCHAT_EXPORTER_GC_TUNING": mode},
        )
        found[mode] = json.loads(out.stdout)
    return found


def poll_round(tmp: Path, count: int) -> dict[str, dict[str, float]]:
    fleet, fleet_url = start_fleet(tmp, count, 0.1, "normal")
    # every request of the fleet queued at once: the wait for a slot counts in the timeout,
    # so this burst (not the serving cadence) gets one long enough for the whole queue
    config = write_config(
        tmp / f"round-{count}.yaml",
        fleet_url,
        count,
        collectors=OPTIONS["collectors"],
        timeout="600s",
    )
    results = {}
    try:
        for mode in ("exporter", "baseline"):
            out = subprocess.run(
                [sys.executable, str(HERE / "poll_round.py"), mode, str(config)],
                capture_output=True,
                text=True,
                timeout=600,
                check=True,
            )
            results[mode] = json.loads(out.stdout)
    finally:
        fleet.stop()
    return results


def machine() -> str:
    model = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    mem = Path("/proc/meminfo").read_text().splitlines()[0].split()[1]
    import aiohttp as aio
    import prometheus_client

    from exporter import __version__

    client_version = getattr(prometheus_client, "__version__", "")
    if not client_version:
        from importlib.metadata import version

        client_version = version("prometheus-client")
    return (
        f"{os.cpu_count()} CPUs ({model}), {int(mem) / 1024 / 1024:.0f} GiB RAM, "
        f"{platform.system()} {platform.release()}, Python {platform.python_version()}, "
        f"aiohttp {aio.__version__}, prometheus-client {client_version}, exporter "
        f"{__version__}; shared machine, figures vary run to run"
    )


RATE_LIMIT = (10, 60.0)  # Rocket.Chat's default REST limiter: 10 requests per 60 s per route


def request_budget(workspace: WorkspaceConfig) -> list[tuple[str, str, float]]:
    """(endpoint, where it goes, requests per hour) for one workspace; health goes to each
    instance's own address, once per instance per poll, not to the API's rate limiter."""
    found = []
    for collector, interval in enabled(workspace):
        target = "each instance" if collector.name == "health" else "API"
        for request in collector.requests:
            found.append((request.endpoint, target, 3600 / interval))
    return found


def budget_table() -> list[str]:
    """Requests per workspace and endpoint with every collector on at its default interval,
    against Rocket.Chat's default rate limiter (per route and client)."""
    workspace = WorkspaceConfig(
        name="w",
        url="https://chat.example.com",
        auth=TokenAuth(user_id="u"),
        collectors=(("info", None), ("licenses", None), ("health", None), ("omnichannel", None)),
    )
    limit, window = RATE_LIMIT
    lines = [
        "",
        "## Request budget per workspace, every collector on at its default interval",
        "",
        f"Rocket.Chat's default REST rate limiter allows {limit} requests per {window:.0f} s per "
        "route and client; health goes to each instance's own address, not through it.",
        "",
        f"| endpoint | goes to | requests per hour | per {window:.0f} s | share of the route's limit |",
        "|---|---|---|---|---|",
    ]
    total = 0.0
    for endpoint, target, per_hour in request_budget(workspace):
        per_window = per_hour * window / 3600
        total += per_hour if target == "API" else 0
        share = f"{per_window / limit:.0%}" if target == "API" else "-"
        lines.append(f"| {endpoint} | {target} | {per_hour:.0f} | {per_window:.2f} | {share} |")
    lines.append(f"| all API requests | API | {total:.0f} | {total * window / 3600:.2f} | |")
    return lines


def report(
    sizes: list[dict[str, Any]],
    busy: dict[str, Any],
    all_rounds: list[dict[str, Any]],
    scrapes: int,
    standard: list[dict[str, Any]] | None = None,
    memory: list[dict[str, Any]] | None = None,
    pauses: dict[str, Any] | None = None,
) -> str:
    lines = [
        f"Machine: {machine()}",
        "",
        f"Collectors: {OPTIONS['collectors']}",
        "",
        f"## /metrics scrape latency, idle (ms, p50 / p99 over {scrapes} scrapes)",
        "",
        "(a) is two servers of the same bytes pre-rendered, scraped in turns with the exporter "
        "(the order rotating), their samples pooled; how far apart the two measured is the "
        "resolution of the ratios. (b) is scraped after them (at N = 10 000: 50 scrapes of the "
        "exporter and (a), 3 of (b)).",
        "",
    ]
    lines.append(
        "| N workspaces | series | body plain / gzip | exporter plain | (a) pre-rendered plain | (b) prometheus_client plain | exporter gzip | (a) gzip | (b) gzip | p50 exporter/(a) plain / gzip | two (a) servers apart, p50 plain / gzip | (b)/exporter gzip |"
    )
    lines.append("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in sizes:
        ratio_plain = r["exporter_plain"].p50 / r["static_plain"].p50
        ratio_gzip = r["exporter_gzip"].p50 / r["static_gzip"].p50
        ratio_b = r["client_gzip"].p50 / r["exporter_gzip"].p50
        lines.append(
            f"| {r['n']} | {r['series']} | {r['exporter_plain'].size / 1e6:.2f} MB / {r['exporter_gzip'].size / 1e6:.2f} MB "
            f"| {r['exporter_plain'].cell()} | {r['static_plain'].cell()} | {r['client_plain'].cell()} "
            f"| {r['exporter_gzip'].cell()} | {r['static_gzip'].cell()} | {r['client_gzip'].cell()} "
            f"| {ratio_plain:.2f}x / {ratio_gzip:.2f}x "
            f"| {apart(r, 'plain', 'p50'):.2f}x / {apart(r, 'gzip', 'p50'):.2f}x | {ratio_b:.0f}x |"
        )
    lines += [
        "",
        "## Memory and start-up",
        "",
        "RSS after the first round: the median (and largest) of 10 samples over 5 s; per workspace: "
        "RSS / N, and above the smallest N's RSS (what each added workspace costs). Start-up with "
        "the package's bytecode compiled, as an install has it; up to N = 1000 the median of three "
        "starts (and their range).",
        "",
        "| N workspaces | RSS after first round, MiB (MB) | largest sample (MiB) | RSS per workspace (KiB) | above the smallest N, per workspace (KiB) | start to /healthz (s) | start to /ready (s) |",
        "|---|---|---|---|---|---|---|",
    ]
    smallest = min(sizes, key=lambda r: r["n"])
    for r in [*sizes, *(memory or [])]:
        per = r["rss_mib"] * 1024 / r["n"]
        added = r["n"] - smallest["n"]
        marginal = (
            f"{(r['rss_mib'] - smallest['rss_mib']) * 1024 / added:.0f}" if added > 0 else "-"
        )
        n = (
            r["n"]
            if "collectors" not in r
            else f"{r['n']}, {r['collectors']} collectors only ({r['series']} series)"
        )
        ready = f"{r['ready_s']:.2f}"
        if "ready_range" in r:
            ready += " ({:.2f}-{:.2f})".format(*r["ready_range"])
        lines.append(
            f"| {n} | {r['rss_mib']:.0f} ({r['rss_mib'] * 1.048576:.0f}) | {r['rss_max_mib']:.0f} "
            f"| {per:.0f} | {marginal} | {r['listening_s']:.2f} | {ready} |"
        )
    if busy:
        n = busy["n"]
        idle = next(r for r in sizes if r["n"] == n)
        lines += [
            "",
            f"## Scrapes under load, N = {n} (ms, p50 / p99 over {LOAD_SCRAPES * scrapes} scrapes)",
            "",
            "(a) is two servers of the same bytes pre-rendered, started on the exporter's "
            "exposition and scraped in turns with it (the order rotating), so all three are "
            "measured under the same load at the same moments; their samples pooled. The last "
            "columns: how far apart the two (a) servers measured (the resolution of the ratios).",
            "",
            "| situation | exporter plain | exporter gzip | (a) plain | (a) gzip | p99 exporter/(a) plain | gzip | two (a) servers apart, p99 plain | gzip |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        situations = (
            ("idle", None),
            (
                f"every workspace polled every 5 s ({2 * n // 5} requests/s, 100 ms latency)",
                "poll-5s",
            ),
            (
                f"every workspace polled every 1 s ({2 * n} requests/s; a measurement, not a "
                "target: no Rocket.Chat's rate limit allows it)",
                "poll-1s",
            ),
            ("every workspace hanging after a good round (30 s timeout)", "hang"),
        )
        for label, key in situations:
            b = busy[key] if key else idle
            if key is None:
                label += f" ({scrapes} scrapes, from the table above)"
            lines.append(
                f"| {label} | {b['exporter_plain'].cell()} | {b['exporter_gzip'].cell()} "
                f"| {b['static_plain'].cell()} | {b['static_gzip'].cell()} "
                f"| {b['exporter_plain'].p99 / b['static_plain'].p99:.2f}x "
                f"| {b['exporter_gzip'].p99 / b['static_gzip'].p99:.2f}x "
                f"| {apart(b, 'plain', 'p99'):.2f}x | {apart(b, 'gzip', 'p99'):.2f}x |"
            )
    if standard:
        lines += [
            "",
            "## The fair comparison: standard cadence (every workspace polled every 30 s)",
            "",
            "Polls land all the time (100 ms server latency; statistics, info and licenses every "
            "5 min). (b') = prometheus_client with the caching a careful author would add: "
            "re-render the whole registry when any data changed, serve the cached bytes "
            "otherwise; the data changes at the same rate (N/30 x 1.4 per second), so each of its "
            "scrapes re-renders. Render CPU: CPU seconds per wall second spent producing the "
            "exposition (render_cost.py: the exporter's publisher on the real state with polls "
            "landing at that rate; (b') one full render per Prometheus scrape).",
            "",
            "| N | render CPU/s exporter | (b') at 15 s scrapes | (b') at 5 s scrapes | (b') one render (s) "
            "| scrape plain: exporter | (b') | (a) | scrape gzip: exporter | (b') | (a) "
            "| p50 exporter/(a) gzip | p99 exporter/(a) gzip |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for r in standard:
            e, c = r["render"]["exporter"], r["render"]["cached"]
            lines.append(
                f"| {r['n']} | {e['cpu_per_second']:.3f} | {c['cpu_per_second_15s']:.3f} "
                f"| {c['cpu_per_second_5s']:.3f} | {c['render_s']:.2f} "
                f"| {r['exporter_plain'].cell()} | {r['cached_plain'].cell()} | {r['static_plain'].cell()} "
                f"| {r['exporter_gzip'].cell()} | {r['cached_gzip'].cell()} | {r['static_gzip'].cell()} "
                f"| {r['exporter_gzip'].p50 / r['static_gzip'].p50:.2f}x "
                f"| {r['exporter_gzip'].p99 / r['static_gzip'].p99:.2f}x |"
            )
    if pauses:
        lines += [
            "",
            f"## Garbage-collection pauses at the standard cadence, N = {pauses['n']}",
            "",
            "gc_pauses.py: the state of N workspaces in one process, polls landing at the "
            "standard cadence and the publisher rendering, for 90 s; every collection's pause "
            "(gc.callbacks) and the longest the event loop was held (what a scrape arriving "
            "then waits, GC or not). With the serving process's GC settings (runtime/gctune.py) "
            "and with ROCKETCHAT_EXPORTER_GC_TUNING=off (the stock collector).",
            "",
            "| GC settings | longest pause, young / middle / full (ms) | collections young / "
            "middle / full | GC time (s) | longest loop stall (ms) |",
            "|---|---|---|---|---|",
        ]
        for mode, label in (("on", "tuned (default)"), ("off", "stock (tuning off)")):
            r = pauses[mode]
            longest = " / ".join(f"{r['max_pause_ms'][g]:.1f}" for g in ("0", "1", "2"))
            counts = " / ".join(str(r["collections"][g]) for g in ("0", "1", "2"))
            lines.append(
                f"| {label} | {longest} | {counts} | {r['gc_seconds']:.2f} "
                f"| {r['max_loop_stall_ms']:.1f} |"
            )
    lines += budget_table()
    for rounds in all_rounds:
        n = rounds["n"]
        e, b = rounds["exporter"], rounds["baseline"]
        lines += [
            "",
            f"## One full poll round, N = {n}, 100 ms server latency, max_concurrency 64",
            "",
            "Every request of every workspace once (core first, then info and licenses: 5 per "
            "workspace); the baseline makes the same requests.",
            "",
            "| | wall (s) | CPU (s) | CPU per workspace (ms) | workspaces up |",
            "|---|---|---|---|---|",
        ]
        lines.append(
            f"| exporter (GET, cap, parse, state) | {e['wall']:.2f} | {e['cpu']:.2f} | {e['cpu'] / n * 1000:.2f} | {e['up']} |"
        )
        lines.append(
            f"| baseline (GET + json.loads only) | {b['wall']:.2f} | {b['cpu']:.2f} | {b['cpu'] / n * 1000:.2f} | {b['up']} |"
        )
        lines.append(
            f"| ratio exporter / baseline | {e['wall'] / b['wall']:.2f}x | {e['cpu'] / b['cpu']:.2f}x | | |"
        )
    return "\n".join(lines) + "\n"


async def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="10,100,1000,10000")
    parser.add_argument(
        "--load-size", type=int, default=1000, help="N of the scrapes-under-load runs"
    )
    parser.add_argument("--scrapes", type=int, default=200)
    parser.add_argument(
        "--no-write", action="store_true", help="do not write benchmarks/RESULTS.md"
    )
    parser.add_argument(
        "--collectors",
        choices=("default", "core"),
        default="default",
        help="default: info and licenses on, as a fresh config; core: instances and "
        "statistics only (the figures before the optional collectors existed)",
    )
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="every settling wait a tenth as long: checks the harness end to end in seconds "
        "(make test); the figures mean nothing then",
    )
    args = parser.parse_args()
    OPTIONS["collectors"] = args.collectors
    OPTIONS["smoke"] = "yes" if args.smoke else ""
    sizes = [int(s) for s in args.sizes.split(",")]
    # start-up is measured as an installed exporter starts: with its bytecode compiled (pip
    # does it at install); a checkout under PYTHONDONTWRITEBYTECODE=1 would compile every
    # module at every start (~0.1 s)
    compileall.compile_dir(str(HERE.parent / "exporter"), quiet=1)
    largest = min(max(sizes), args.load_size)
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        size_results = []
        for count in sizes:
            print(f"measuring N={count} ...", file=sys.stderr)
            size_results.append(await size_run(tmp, count, args.scrapes))
        memory = []
        if args.collectors != "core":  # the 10 000 x 5 instances, ~900 000 series
            print(f"measuring N={max(sizes)} with the core collectors ...", file=sys.stderr)
            memory.append(await memory_run(tmp, max(sizes), "core"))
        print(f"measuring scrapes under load at N={largest} ...", file=sys.stderr)
        busy: dict[str, Any] = {"n": largest}
        for mode in ("poll-5s", "poll-1s", "hang"):
            busy[mode] = await busy_run(tmp, largest, LOAD_SCRAPES * args.scrapes, mode)
        standard = []
        big = [count for count in sizes if count >= largest]
        for count in big:
            print(f"measuring the standard cadence at N={count} ...", file=sys.stderr)
            standard.append(await standard_run(tmp, count, args.scrapes))
        print(f"measuring GC pauses at N={max(sizes)} ...", file=sys.stderr)
        pauses = {"n": max(sizes), **gc_pauses(max(sizes))}
        rounds = []
        for count in big:
            print(f"measuring a poll round at N={count} ...", file=sys.stderr)
            rounds.append({"n": count, **poll_round(tmp, count)})
    text = report(size_results, busy, rounds, args.scrapes, standard, memory, pauses)
    print(text)
    if not args.no_write:
        (HERE / "RESULTS.md").write_text(
            "# Benchmark results\n\nProduced by `make bench` (`benchmarks/bench.py`) on "
            f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; `benchmarks/README.md` "
            "reads them against the targets.\n\n" + text
        )
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
