"""The aiohttp application: /metrics, the status pages, /runbooks, /healthz and /ready.

Handlers only read the state and the renderer's cache; they never wait for a poll.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable

from aiohttp import web

from exporter.exposition.publisher import Publisher
from exporter.runtime.state import State
from exporter.web.fleetpage import fleet_main, fleet_page
from exporter.web.guard import WebGuard
from exporter.web.inflight import MAX_ANSWERS, InFlight
from exporter.web.runbookpage import runbooks_page
from exporter.web.server import BusyTracker, accepts_gzip, send_exposition
from exporter.web.verdict import judge_async, wanted_filter
from exporter.web.webconfig import WebConfig
from exporter.web.workspacepage import workspace_main, workspace_page

log = logging.getLogger("exporter.web")


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
INFLIGHT_KEY = web.AppKey("inflight", InFlight)


def make_app(
    state: State,
    *,
    web_config: WebConfig | None = None,
    reload: Reloader | None = None,
    lifecycle: bool = False,
    tracker: BusyTracker | None = None,
    max_answers: int = MAX_ANSWERS,
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
    app[INFLIGHT_KEY] = InFlight(max_answers)
    app[PAGE_CACHE_KEY] = PageCache()
    app.on_response_prepare.append(guard.on_prepare)
    if reload is not None:
        app[RELOAD_KEY] = reload
    app.cleanup_ctx.append(_publishing)
    if lifecycle:
        app.router.add_post("/-/reload", reload_config)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/", status_page)
    app.router.add_get("/workspace/{name}", workspace_status_page)
    app.router.add_get("/runbooks", runbooks)
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
    inflight = request.app[INFLIGHT_KEY]
    if publisher.gzip_current and accepts_gzip(request):
        head, tail = publisher.gzip_head, publisher.gzip_tail(own)
        return await send_exposition(request, head, tail, gzipped=True, inflight=inflight)
    return await send_exposition(request, publisher.joined(), own, gzipped=False, inflight=inflight)


async def reload_config(request: web.Request) -> web.Response:
    """POST /-/reload: re-read the config file; 400 with the problems if it is invalid."""
    reload = request.app.get(RELOAD_KEY)
    if reload is None:
        return web.Response(status=400, text="no config file to reload (--demo)\n")
    problems = await reload()
    if problems:
        return web.Response(status=400, text="\n".join(["reload rejected:", *problems]) + "\n")
    return web.Response(text="reloaded\n")


async def runbooks(request: web.Request) -> web.Response:
    """The runbooks of every alert rule (the same text as docs/runbooks.md)."""
    return web.Response(body=runbooks_page(), content_type="text/html", charset="utf-8")


async def healthz(request: web.Request) -> web.Response:
    return web.Response(text="ok\n")


async def ready(request: web.Request) -> web.Response:
    """Ready once every workspace's first poll attempt is in what /metrics serves."""
    if request.app[PUBLISHER_KEY].complete:
        return web.Response(text="ready\n")
    return web.Response(text="waiting for the first poll of every workspace\n", status=503)


class PageCache:
    """The fleet page's answers for TTL seconds, by query: judging 10 000 workspaces takes
    a fifth of a second of the event loop, and clients that reload it without pause (the
    page's own script refreshes every 5 s) must not turn that into most of the loop's time."""

    TTL = 2.0
    MAX_ENTRIES = 64  # distinct queries kept; a client varying ?q= only rotates them

    def __init__(self) -> None:
        self._answers: dict[tuple[str, str, bool], tuple[float, bytes]] = {}

    def get(self, key: tuple[str, str, bool], now: float) -> bytes | None:
        found = self._answers.get(key)
        return found[1] if found is not None and found[0] > now else None

    def put(self, key: tuple[str, str, bool], now: float, body: bytes) -> None:
        if len(self._answers) >= self.MAX_ENTRIES:
            self._answers.clear()
        self._answers[key] = (now + self.TTL, body)


PAGE_CACHE_KEY = web.AppKey("page cache", PageCache)


async def status_page(request: web.Request) -> web.Response:
    """The fleet overview; ?q= filters by name, ?state= by state; ?fragment=1 gives only the
    page's <main> (what the page's script swaps in when it refreshes). The verdicts of a large
    fleet are made in batches between which scrapes go on (judge_async), at most once per
    PageCache.TTL for the same query."""
    state = request.app[STATE_KEY]
    query = request.query.get("q", "")[:200]
    wanted = wanted_filter(request.query.get("state", ""))
    fragment = bool(request.query.get("fragment"))
    cache = request.app[PAGE_CACHE_KEY]
    now = time.time()
    key = (query, wanted, fragment)
    body = cache.get(key, now)
    if body is None:
        judged = await judge_async(state, now)
        if fragment:
            body = fleet_main(state, query, wanted, now, judged).encode("utf-8", "backslashreplace")
        else:
            body = fleet_page(state, query, wanted, now, judged)
        cache.put(key, now, body)
    if fragment:
        return web.Response(body=body, content_type="text/html")
    return web.Response(body=body, content_type="text/html", charset="utf-8")


async def workspace_status_page(request: web.Request) -> web.Response:
    """One workspace: its instances, statistics and endpoints."""
    workspace = request.app[STATE_KEY].workspaces.get(request.match_info["name"])
    if workspace is None:
        raise web.HTTPNotFound(text="no such workspace\n")
    if request.query.get("fragment"):
        main = workspace_main(workspace, time.time())
        return web.Response(body=main.encode("utf-8", "backslashreplace"), content_type="text/html")
    return web.Response(body=workspace_page(workspace), content_type="text/html", charset="utf-8")
