"""The aiohttp application: /metrics, the status page, /healthz and /ready.

Handlers only read the state and the renderer's cache; they never wait for a poll.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from aiohttp import web

from . import gctune
from .render import Renderer
from .selfmetrics import SelfMetrics, finish_gzip, open_gzip
from .state import State
from .statuspage import STATES, fleet_main, fleet_page, workspace_main, workspace_page
from .webconfig import WebConfig
from .webguard import WebGuard
from .webserver import BusyTracker, accepts_gzip, send_exposition

log = logging.getLogger("exporter.web")


class Publisher:
    """Holds the latest rendered exposition, plain and gzipped.

    A background task waits for the state to change, then re-renders, at most every
    max(1 s, 5x the CPU the last render took), with the join and gzip in its own worker
    thread: a scrape only sends ready bytes, so it costs the same whether a thousand polls are
    landing or none, and no other work (bcrypt checks, config loads) can queue in front of it.
    The price: what a scrape sees can lag the latest poll by one render interval (a second at
    1000 workspaces; Prometheus scrapes every 15 s or so). The first complete exposition (the
    one /ready waits for) goes out at once.
    """

    MIN_INTERVAL = 1.0  # polls land all the time in a large fleet: one render a second at most

    def __init__(self, state: State) -> None:
        self.renderer = Renderer(state)
        self.state = state
        self.generation = -1
        # the exposition is kept as its parts (the renderer's fragments, not copied) and gzip;
        # the plain text only while plain scrapes come (see joined): Prometheus asks for gzip,
        # and at 10 000 workspaces a plain copy held all the time would be 160 MB
        self.parts: list[bytes] = []
        self._joined: bytes | None = b""
        self._plain_scraped = False  # since the last render: the next one joins it too
        self._tail: tuple[zlib._Compress, bytes, bytes] | None = None  # see gzip_tail
        self.gzip_head, self.gzip_rest = open_gzip([])  # the open gzip stream of the parts
        self.gzip_current = True  # the stream is of the parts (see render)
        self.self_metrics = SelfMetrics()
        # the published exposition holds every workspace's first poll (then the state's
        # first_exposition event is set too)
        self.complete = False
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="render")

    def publish_now(self) -> None:
        complete = self.state.ready
        generation, parts = self.renderer.snapshot()
        self._publish(_assemble(parts, plain=False))
        self.generation = generation
        self._set_complete(complete)

    async def render(self) -> float:
        """Render and publish once; returns the CPU seconds it took (not time spent waiting).
        The workspaces' fragments are rendered and grouped by family in the loop, a batch at
        a time; the gzip stream and (if plain scrapes came) the plain text are made in the
        worker thread, in C calls short enough for the loop to take its turns (Python code
        there would hold the GIL for 5 ms at a time while a scrape waits)."""
        complete = self.state.ready
        generation, parts = await self.renderer.snapshot_async()
        plain, self._plain_scraped = self._plain_scraped, False
        if complete and not self.complete:
            # the first complete exposition goes out before its gzip stream is made (30 ms
            # at 1000 workspaces): until then a gzip scrape gets it plain (/ready sooner)
            self.parts, self._joined, self.gzip_current = parts, None, False
            self.generation = generation
            self._set_complete(True)
        loop = asyncio.get_running_loop()
        published = await loop.run_in_executor(self._executor, _assemble, parts, plain)
        self._publish(published)
        self.generation = generation
        self._set_complete(complete)
        return self.renderer.last_render_seconds + published.worker_cpu

    def _publish(self, published: _Published) -> None:
        self.gzip_current = True
        self.parts = published.parts
        self.gzip_head, self.gzip_rest = published.gzip_head, published.gzip_rest
        self._joined = published.plain

    def gzip_tail(self, own: bytes) -> bytes:
        """The end of the gzip member: the self-metrics and the trailer, finished once per
        render and self-metrics refresh (each at most once a second), not at every scrape."""
        rest = self.gzip_rest
        cached = self._tail
        if cached is None or cached[0] is not rest or cached[1] is not own:
            cached = self._tail = (rest, own, finish_gzip(rest, own))
        return cached[2]

    def joined(self) -> bytes:
        """The plain exposition: joined by the render when plain scrapes came since the one
        before, else now (once per render)."""
        self._plain_scraped = True
        if self._joined is None:
            self._joined = b"".join(self.parts)
        return self._joined

    def _set_complete(self, complete: bool) -> None:
        if complete and not self.complete:
            self.complete = True
            self.state.first_exposition.set()

    async def run(self) -> None:
        # nothing rendered in the first interval unless the first round is in by then: at
        # 1000 workspaces it takes less, and rendering the part of it already in competed
        # with it for the CPU (90 ms more to /ready)
        await self._pause(self.MIN_INTERVAL)
        changed = self.state.changed
        while True:
            if self.state.generation == self.generation:
                changed.clear()
                await changed.wait()
            try:
                cost = await self.render()
            except Exception:  # a bug must not freeze /metrics on old values forever
                log.exception("rendering the exposition failed")
                self._publish(_assemble([], plain=False))
                await asyncio.sleep(1)
                continue
            await self._pause(max(self.MIN_INTERVAL, 5 * cost))

    async def _pause(self, seconds: float) -> None:
        """Wait before the next render, but not past the end of the first round: the first
        complete exposition goes out at once (/ready)."""
        changed = self.state.changed
        pause_until = time.monotonic() + seconds
        while (left := pause_until - time.monotonic()) > 0:
            if self.complete:
                await asyncio.sleep(left)
                break
            if self.state.ready:
                break
            changed.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(left):  # not wait_for: it may eat a cancel
                    await changed.wait()

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


@dataclass(frozen=True, slots=True)
class _Published:
    parts: list[bytes]
    gzip_head: bytes
    gzip_rest: zlib._Compress
    plain: bytes | None  # None: joined at the first plain scrape
    worker_cpu: float  # thread CPU seconds it took


def _assemble(parts: list[bytes], plain: bool) -> _Published:
    """The exposition's parts, open gzip stream and, if asked, plain text."""
    started = time.thread_time()
    text = None
    if plain:
        pieces = list(slices(parts))
        head, rest = open_gzip(pieces)
        text = b"".join(pieces)
    else:  # each piece is dropped once compressed: no transient copy of the whole
        head, rest = open_gzip(slices(parts))
    gctune.release_free_memory()
    return _Published(parts, head, rest, text, time.thread_time() - started)


SLICE_PARTS = 1024  # parts joined at a time: ~0.3 ms, ~0.4 MB at 10 000 workspaces


def slices(parts: list[bytes]) -> Iterator[bytes]:
    """The parts joined a slice at a time: few, mid-sized pieces, never one whole copy."""
    for start in range(0, len(parts), SLICE_PARTS):
        yield b"".join(parts[start : start + SLICE_PARTS])


STATE_KEY = web.AppKey("state", State)
PUBLISHER_KEY = web.AppKey("publisher", Publisher)


async def _publishing(app: web.Application) -> AsyncIterator[None]:
    publisher = app[PUBLISHER_KEY]
    task = asyncio.create_task(publisher.run(), name="render exposition")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    publisher.close()
    app[GUARD_KEY].close()


Reloader = Callable[[], Awaitable[list[str]]]
RELOAD_KEY: web.AppKey[Reloader] = web.AppKey("reload")


GUARD_KEY = web.AppKey("guard", WebGuard)


def make_app(
    state: State,
    *,
    web_config: WebConfig | None = None,
    reload: Reloader | None = None,
    lifecycle: bool = False,
    tracker: BusyTracker | None = None,
) -> web.Application:
    """The exporter's HTTP application. `web_config` adds its rate limit, client SAN check,
    basic auth (all but /healthz) and headers; POST /-/reload exists only with `lifecycle`."""
    guard = WebGuard(web_config or WebConfig(), state)
    chain = [guard.middleware]
    if tracker is not None:
        chain.insert(0, tracker.middleware)
    app = web.Application(middlewares=chain)
    app[STATE_KEY] = state
    app[PUBLISHER_KEY] = Publisher(state)
    app[GUARD_KEY] = guard
    app.on_response_prepare.append(guard.on_prepare)
    if reload is not None:
        app[RELOAD_KEY] = reload
    app.cleanup_ctx.append(_publishing)
    if lifecycle:
        app.router.add_post("/-/reload", reload_config)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/", status_page)
    app.router.add_get("/workspace/{name}", workspace_status_page)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/ready", ready)
    return app


async def metrics(request: web.Request) -> web.StreamResponse:
    """The published exposition and the self-metrics: plain, the parts joined once per render;
    gzip, the published stream finished with the self-metrics into one member."""
    publisher = request.app[PUBLISHER_KEY]
    if publisher.generation < 0:  # a scrape before the first background render
        publisher.publish_now()
    own = publisher.self_metrics.text()
    if publisher.gzip_current and accepts_gzip(request):
        head, tail = publisher.gzip_head, publisher.gzip_tail(own)
        return await send_exposition(request, head, tail, gzipped=True)
    return await send_exposition(request, publisher.joined(), own, gzipped=False)


async def reload_config(request: web.Request) -> web.Response:
    """POST /-/reload: re-read the config file; 400 with the problems if it is invalid."""
    reload = request.app.get(RELOAD_KEY)
    if reload is None:
        return web.Response(status=400, text="no config file to reload (--demo)\n")
    problems = await reload()
    if problems:
        return web.Response(status=400, text="\n".join(["reload rejected:", *problems]) + "\n")
    return web.Response(text="reloaded\n")


async def healthz(request: web.Request) -> web.Response:
    return web.Response(text="ok\n")


async def ready(request: web.Request) -> web.Response:
    """Ready once every workspace's first poll attempt is in what /metrics serves."""
    if request.app[PUBLISHER_KEY].complete:
        return web.Response(text="ready\n")
    return web.Response(text="waiting for the first poll of every workspace\n", status=503)


async def status_page(request: web.Request) -> web.Response:
    """The fleet overview; ?q= filters by name, ?state= by state; ?fragment=1 gives only the
    page's <main> (what the page's script swaps in when it refreshes)."""
    state = request.app[STATE_KEY]
    query = request.query.get("q", "")[:200]
    wanted = request.query.get("state", "")
    if request.query.get("fragment"):
        wanted = wanted if wanted in STATES else ""
        main = fleet_main(state, query, wanted, time.time())
        return web.Response(body=main.encode("utf-8", "backslashreplace"), content_type="text/html")
    return web.Response(
        body=fleet_page(state, query, wanted), content_type="text/html", charset="utf-8"
    )


async def workspace_status_page(request: web.Request) -> web.Response:
    """One workspace: its instances, statistics and endpoints."""
    workspace = request.app[STATE_KEY].workspaces.get(request.match_info["name"])
    if workspace is None:
        raise web.HTTPNotFound(text="no such workspace\n")
    if request.query.get("fragment"):
        main = workspace_main(workspace, time.time())
        return web.Response(body=main.encode("utf-8", "backslashreplace"), content_type="text/html")
    return web.Response(body=workspace_page(workspace), content_type="text/html", charset="utf-8")
