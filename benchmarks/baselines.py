"""Baseline /metrics servers: python benchmarks/baselines.py MODE EXPOSITION_FILE PORT_FILE.

static: (a) the limit - an aiohttp handler returning the same bytes, already rendered (and gzipped).
client: (b) the stock way - a prometheus_client custom collector yielding the same metric
        families, rendered with generate_latest (and gzipped) on every scrape.
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


async def main(mode: str, exposition: str, port_file: str) -> None:
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

    else:
        registry = CollectorRegistry(auto_describe=False)
        registry.register(Families(list(text_string_to_metric_families(text))))

        async def handler(request: web.Request) -> web.Response:
            body = generate_latest(registry)
            headers = {"Content-Type": CONTENT_TYPE}
            if wants_gzip(request):
                body = gzip.compress(body, compresslevel=1)
                headers["Content-Encoding"] = "gzip"
            return web.Response(body=body, headers=headers)

    app.router.add_get("/metrics", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    Path(port_file).write_text(f"http://127.0.0.1:{runner.addresses[0][1]}")
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3]))
