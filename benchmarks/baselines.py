"""Baseline /metrics servers: python benchmarks/baselines.py MODE EXPOSITION_FILE PORT_FILE.

static: (a) the limit - an aiohttp handler returning the same bytes, already rendered (and gzipped).
client: (b) the stock way - a prometheus_client custom collector yielding the same metric
        families, rendered with generate_latest (and gzipped) on every scrape.
cached: (b') prometheus_client with the caching a careful author would add: re-render the whole
        registry (and gzip it) at a scrape when any data changed since the last render, serve the
        cached bytes otherwise. Data changes at the standard cadence: CHANGES_PER_SECOND (one
        workspace's poll landing; default N/30, every workspace polled every 30 s), given as the
        optional 4th argument.
"""

from __future__ import annotations

import asyncio
import gzip
import sys
from collections.abc import Iterator
from pathlib import Path

from aiohttp import web
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class Families:
    """A custom collector that yields the metric families of a parsed exposition."""

    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> Iterator[Metric]:
        yield from self.families


def wants_gzip(request: web.Request) -> bool:
    return "gzip" in request.headers.get("Accept-Encoding", "")


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()


async def main(mode: str, exposition: str, port_file: str, changes: float = 0.0) -> None:
    text = Path(exposition).read_text()
    app = web.Application()
    if mode == "static":
        plain = text.encode()
        zipped = gzip.compress(plain, compresslevel=1)

        async def handler(request: web.Request) -> web.Response:
            if wants_gzip(request):
                return web.Response(
                    body=zipped, headers={"Content-Type": CONTENT_TYPE, "Content-Encoding": "gzip"}
                )
            return web.Response(body=plain, headers={"Content-Type": CONTENT_TYPE})

    elif mode == "client":
        registry = CollectorRegistry(auto_describe=False)
        registry.register(Families(list(text_string_to_metric_families(text))))

        async def handler(request: web.Request) -> web.Response:
            body = generate_latest(registry)
            headers = {"Content-Type": CONTENT_TYPE}
            if wants_gzip(request):
                body = gzip.compress(body, compresslevel=1)
                headers["Content-Encoding"] = "gzip"
            return web.Response(body=body, headers=headers)

    else:
        families = list(text_string_to_metric_families(text))
        registry = CollectorRegistry(auto_describe=False)
        registry.register(Families(families))
        cache: dict[str, bytes] = {}
        dirty = [True]

        async def land_polls() -> None:
            """One workspace's new data every 1/changes seconds: a sample value changes."""
            samples = [(f, i) for f in families for i in range(len(f.samples))]
            step = 0
            while changes > 0:
                await asyncio.sleep(1 / changes)
                family, index = samples[step % len(samples)]
                sample = family.samples[index]
                family.samples[index] = sample._replace(value=sample.value + 1)
                dirty[0] = True
                step += 7919  # a prime stride: spread over the families

        async def handler(request: web.Request) -> web.Response:
            if dirty[0]:
                dirty[0] = False
                plain = generate_latest(registry)
                cache.clear()
                cache.update(plain=plain, gzip=gzip.compress(plain, compresslevel=1))
            headers = {"Content-Type": CONTENT_TYPE}
            if wants_gzip(request):
                headers["Content-Encoding"] = "gzip"
                return web.Response(body=cache["gzip"], headers=headers)
            return web.Response(body=cache["plain"], headers=headers)

        landing = asyncio.get_running_loop().create_task(land_polls())
        app.on_cleanup.append(lambda _: _cancel(landing))

    app.router.add_get("/metrics", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    Path(port_file).write_text(f"http://127.0.0.1:{runner.addresses[0][1]}")
    await asyncio.Event().wait()


if __name__ == "__main__":
    rate = float(sys.argv[4]) if len(sys.argv) > 4 else 0.0
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], rate))
