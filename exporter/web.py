"""The aiohttp application: /metrics, the status page, /healthz and /ready.

Handlers only read the state and the renderer's cache; they never wait for a poll.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import logging
import time
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

from aiohttp import web

from . import __version__
from .render import CONTENT_TYPE, Renderer
from .selfmetrics import SelfMetrics, finish_gzip, open_gzip
from .state import State, WorkspaceState
from .webconfig import WebConfig
from .webguard import BasicAuthGuard, add_headers, middlewares
from .webserver import BusyTracker

log = logging.getLogger("exporter.web")


class Publisher:
    """Holds the latest rendered exposition, plain and gzipped.

    A background task waits for the state to change, then re-renders, at most every
    max(50 ms, 5x the CPU the last render took), with the join and gzip in its own worker
    thread: a scrape only sends ready bytes, so it costs the same whether a thousand polls are
    landing or none, and no other work (bcrypt checks, config loads) can queue in front of it.
    The price: what a scrape sees can lag the latest poll by one render interval (well under
    a second at 1000 workspaces).
    """

    MIN_INTERVAL = 0.05

    def __init__(self, state: State) -> None:
        self.renderer = Renderer(state)
        self.state = state
        self.generation = -1
        self.plain = b""
        self.gzip_head, self.gzip_rest = open_gzip(b"")  # the open gzip stream of `plain`
        self.self_metrics = SelfMetrics()
        self.complete = False  # the published exposition holds every workspace's first poll
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="render")

    def publish_now(self) -> None:
        complete = self.state.ready
        generation, parts = self.renderer.snapshot()
        self.plain, self.gzip_head, self.gzip_rest, _ = _assemble(parts)
        self.generation, self.complete = generation, complete

    async def render(self) -> float:
        """Render and publish once; returns the CPU seconds it took (not time spent waiting)."""
        complete = self.state.ready
        generation, parts = await self.renderer.snapshot_async()
        loop = asyncio.get_running_loop()
        plain, head, rest, worker_cpu = await loop.run_in_executor(self._executor, _assemble, parts)
        self.plain, self.gzip_head, self.gzip_rest = plain, head, rest
        self.generation = generation
        self.complete = self.complete or complete
        return self.renderer.last_render_seconds + worker_cpu

    async def run(self) -> None:
        changed = self.state.changed
        while True:
            if self.state.generation == self.generation:
                changed.clear()
                await changed.wait()
            try:
                cost = await self.render()
            except Exception:  # a bug must not freeze /metrics on old values forever
                log.exception("rendering the exposition failed")
                self.plain, self.gzip_head, self.gzip_rest, _ = _assemble([])
                await asyncio.sleep(1)
                continue
            pause_until = time.monotonic() + max(self.MIN_INTERVAL, 5 * cost)
            while (left := pause_until - time.monotonic()) > 0:
                if self.complete:
                    await asyncio.sleep(left)
                    break
                if self.state.ready:  # the first complete exposition goes out at once (/ready)
                    break
                changed.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(changed.wait(), left)

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


def _assemble(parts: list[bytes]) -> tuple[bytes, bytes, zlib._Compress, float]:
    """The exposition, plain and as an open gzip stream, and the thread CPU it took."""
    started = time.thread_time()
    plain = b"".join(parts)
    head, rest = open_gzip(plain)
    return plain, head, rest, time.thread_time() - started


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
    guard = app.get(GUARD_KEY)
    if guard is not None:
        guard.close()


Reloader = Callable[[], Awaitable[list[str]]]
RELOAD_KEY: web.AppKey[Reloader] = web.AppKey("reload")


GUARD_KEY = web.AppKey("guard", BasicAuthGuard)


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
    chain, guard = middlewares(web_config or WebConfig(), state)
    if tracker is not None:
        chain.insert(0, tracker.middleware)
    app = web.Application(middlewares=chain)
    app[STATE_KEY] = state
    app[PUBLISHER_KEY] = Publisher(state)
    if guard is not None:
        app[GUARD_KEY] = guard
    if web_config is not None and web_config.headers:
        app.on_response_prepare.append(add_headers(web_config.headers))
    if reload is not None:
        app[RELOAD_KEY] = reload
    app.cleanup_ctx.append(_publishing)
    if lifecycle:
        app.router.add_post("/-/reload", reload_config)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/", status_page)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/ready", ready)
    return app


def _accepts_gzip(request: web.Request) -> bool:
    for part in request.headers.get("Accept-Encoding", "").split(","):
        coding, _, params = part.strip().partition(";")
        if coding.strip().lower() == "gzip" and params.replace(" ", "") not in ("q=0", "q=0.0"):
            return True
    return False


async def metrics(request: web.Request) -> web.StreamResponse:
    """The published exposition and the self-metrics, sent as two pieces (no big copy); with
    gzip, the published stream is finished with the self-metrics into one gzip member."""
    publisher = request.app[PUBLISHER_KEY]
    if publisher.generation < 0:  # a scrape before the first background render
        publisher.publish_now()
    own = publisher.self_metrics.text()
    response = web.StreamResponse(headers={"Content-Type": CONTENT_TYPE, "Vary": "Accept-Encoding"})
    if _accepts_gzip(request):
        first, second = publisher.gzip_head, finish_gzip(publisher.gzip_rest, own)
        response.headers["Content-Encoding"] = "gzip"
    else:
        first, second = publisher.plain, own
    response.content_length = len(first) + len(second)
    await response.prepare(request)
    await response.write(first)
    await response.write(second)
    await response.write_eof()
    return response


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


def _when(seconds: float | None) -> str:
    if seconds is None:
        return "never"
    moment = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return f"{moment} ({max(0, time.time() - seconds):.0f}s ago)"


def _text(value: str) -> str:
    """A string from a server or a client, made harmless: HTML-escaped and isolated as its own
    bidirectional run, so right-to-left overrides cannot reorder the text around it."""
    return f"<bdi>{html.escape(value)}</bdi>"


def _instances_cell(workspace: WorkspaceState) -> str:
    answer = workspace.instances
    if answer is None:
        return "-"
    if not answer.links_reported:
        return f"{len(answer)} instance(s); links not reported by this server"
    connected = sum(1 for i in answer if i.connected)
    cell = f"{connected}/{len(answer)} connected"
    for instance in answer:
        if instance.connected is False:
            cell += f"; disconnected: {_text(f'{instance.host}:{instance.port}')}"
    return cell


def _row(workspace: WorkspaceState) -> str:
    up = workspace.up
    up_text = {True: "up", False: "DOWN", None: "pending"}[up]
    css = {True: "up", False: "down", None: "pending"}[up]
    version = workspace.statistics.version if workspace.statistics else None
    endpoints = []
    for endpoint, status in workspace.status.items():
        if not status.attempted:
            continue
        duration = f"{status.duration_seconds:.3f}s" if status.duration_seconds else "-"
        error = (
            f'<span class="err">{html.escape(status.last_reason)}: '
            f"{_text(status.last_error)}</span>"
            if not status.ok and status.last_error
            else "ok"
        )
        endpoints.append(
            f"<li><b>{html.escape(endpoint)}</b>: last poll {_when(status.last_poll_end)}, "
            f"took {duration}; {error}</li>"
        )
    return (
        f'<tr><td>{_text(workspace.name)}</td><td class="{css}">{up_text}</td>'
        f"<td>{_instances_cell(workspace)}</td><td>{_text(version or '-')}</td>"
        f"<td><ul>{''.join(endpoints) or '<li>not polled yet</li>'}</ul></td></tr>"
    )


async def status_page(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    rows = "".join(_row(w) for w in state.workspaces.values())
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Rocket.Chat exporter</title>
<style>
body {{ font-family: sans-serif; margin: 2em; color: #222; }}
table {{ border-collapse: collapse; }} td, th {{ border: 1px solid #ccc; padding: .4em .6em;
vertical-align: top; text-align: left; }} ul {{ margin: 0; padding-left: 1.2em; }}
.up {{ color: #1a7f37; font-weight: bold; }} .down {{ color: #cf222e; font-weight: bold; }}
.pending {{ color: #9a6700; }} .err {{ color: #cf222e; }}
</style></head><body>
<h1>Rocket.Chat Prometheus exporter {html.escape(__version__)}</h1>
<p><a href="/metrics">/metrics</a> | <a href="/healthz">/healthz</a>
| <a href="/ready">/ready</a></p>
<table><tr><th>workspace</th><th>state</th><th>instances</th><th>version</th><th>polls</th></tr>
{rows}
</table></body></html>
"""
    # backslashreplace: a string that escaped the parsers' cleaning still cannot fail the page
    body = page.encode("utf-8", "backslashreplace")
    return web.Response(body=body, content_type="text/html", charset="utf-8")
