"""The front process (--web.front-process): it owns the listening socket and answers /metrics,
/ready and /healthz itself, from the exposition the polling process sends down its stdin
(frontlink.py); every other path (the status pages, POST /-/reload) is passed through to the
polling process over a private unix socket. The web config (TLS, basic auth, rate limit, client
SANs, headers) applies here, to every path, before anything is passed on.

Why: in one process a scrape waits in the event loop behind whatever polls and render batches
are queued there (p99 1.6x that of a bare server at 1000 workspaces polled every second); here
it waits only for the operating system's scheduler, like a bare server.

`python -m exporter.front OPTIONS_JSON`; it exits when its stdin closes (the polling process
stopped or died).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import sys
import zlib

from . import gctune, webimport  # noqa: F401  (webimport before aiohttp, see there)

# isort: split
import aiohttp
import yarl
from aiohttp import web

from .configmodel import ConfigError
from .frontlink import EXPOSITION, FRAME, FrontOptions
from .listener import Listener
from .logsetup import setup_logging
from .webconfig import WebConfig, load_web_config
from .webguard import WebGuard
from .webserver import BusyTracker, accepts_gzip, quiet_client_errors, send_exposition

log = logging.getLogger("exporter.front")

# headers of the polling process's answers passed on (the rest are the front's own)
PASSED_HEADERS = ("Content-Type", "Allow", "Retry-After", "Cache-Control", "Location")
FORWARD_TIMEOUT = 30.0


class Exposition:
    """The latest exposition: the fleet's open gzip stream (`head`), its end (`tail`: the
    self-metrics compressed and the trailer) and the self-metrics as text (`own`). The plain
    text of `head` is inflated in a worker thread, once per exposition and only while plain
    scrapes come (Prometheus asks for gzip); until it is ready, plain scrapes get the text of
    the exposition before (one render older, as a gzip scrape of a moment ago did)."""

    def __init__(self) -> None:
        self.generation = -1
        self.complete = False
        self.head = b""
        self.tail = b""
        self.own = b""
        self._inflating: asyncio.Future[bytes] | None = None  # the text of `head`
        self._plain: bytes | None = None  # the text of `head` or of one before it
        self._plain_scraped = False

    def update(self, generation: int, complete: bool, head: bytes, tail: bytes, own: bytes) -> None:
        self.generation, self.complete, self.tail, self.own = generation, complete, tail, own
        if head:
            self.head = head
            self._inflating = None
            if self._plain_scraped:  # plain scrapes come: have the next one's text ready
                self._plain_scraped = False
                self._inflate()
            elif self._plain is not None:  # not kept for a plain scrape that may never come
                self._plain = None
                asyncio.get_running_loop().run_in_executor(None, gctune.release_free_memory)

    def _inflate(self) -> asyncio.Future[bytes]:
        if self._inflating is None:
            inflating = asyncio.ensure_future(asyncio.to_thread(_inflate, self.head))
            inflating.add_done_callback(self._inflated)
            self._inflating = inflating
        return self._inflating

    def _inflated(self, inflating: asyncio.Future[bytes]) -> None:
        if inflating is self._inflating and not inflating.cancelled() and not inflating.exception():
            self._plain = inflating.result()  # the text before it is dropped: 16 MB at 1000
            asyncio.get_running_loop().run_in_executor(None, gctune.release_free_memory)

    async def plain(self) -> bytes:
        self._plain_scraped = True
        inflating = self._inflate()
        if self._plain is not None and not inflating.done():
            return self._plain
        return await inflating


def _inflate(head: bytes) -> bytes:
    return zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(head)


class ParentCounter:
    """The basic-auth failure count, kept by the polling process (it renders the metric)."""

    def __init__(self) -> None:
        self._count: int | None = None

    @property
    def auth_failures(self) -> int | None:
        return self._count

    @auth_failures.setter
    def auth_failures(self, value: int | None) -> None:
        self._count = value
        tell({"auth_failures": value})

    def record_auth_failure(self) -> None:
        self._count = (self._count or 0) + 1
        tell({"auth_failure": 1})


def tell(message: dict[str, object]) -> None:
    """One JSON line to the polling process."""
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def make_front_app(
    exposition: Exposition, guard: WebGuard, tracker: BusyTracker, internal: str
) -> web.Application:
    app = web.Application(middlewares=[tracker.middleware, guard.middleware])
    app.on_response_prepare.append(guard.on_prepare)
    session: aiohttp.ClientSession | None = None

    async def metrics(request: web.Request) -> web.StreamResponse:
        if exposition.generation < 0:
            return web.Response(status=503, text="no exposition yet\n")
        if accepts_gzip(request):
            return await send_exposition(request, exposition.head, exposition.tail, gzipped=True)
        text = await exposition.plain()
        return await send_exposition(request, text, exposition.own, gzipped=False)

    async def ready(request: web.Request) -> web.Response:
        if exposition.complete:
            return web.Response(text="ready\n")
        return web.Response(text="waiting for the first poll of every workspace\n", status=503)

    async def healthz(request: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def forward(request: web.Request) -> web.Response:
        """Anything else, to the polling process (no credentials passed on)."""
        nonlocal session
        if session is None:
            session = aiohttp.ClientSession(
                connector=aiohttp.UnixConnector(path=internal),
                timeout=aiohttp.ClientTimeout(total=FORWARD_TIMEOUT),
                auto_decompress=False,
            )
        body = await request.read()
        headers = {}
        if "Content-Type" in request.headers:
            headers["Content-Type"] = request.headers["Content-Type"]
        try:
            async with session.request(
                request.method,
                yarl.URL("http://exporter" + request.raw_path, encoded=True),
                data=body or None,
                headers=headers,
                allow_redirects=False,
            ) as answer:
                data = await answer.read()
                passed = {k: answer.headers[k] for k in PASSED_HEADERS if k in answer.headers}
                return web.Response(status=answer.status, body=data, headers=passed)
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.warning("the polling process did not answer %s: %s", request.path, exc)
            return web.Response(status=502, text="the polling process did not answer\n")

    async def close_session(app: web.Application) -> None:
        if session is not None:
            await session.close()

    app.on_cleanup.append(close_session)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/ready", ready)
    app.router.add_get("/healthz", healthz)
    app.router.add_route("*", "/{path:.*}", forward)
    return app


async def read_commands(
    stdin: asyncio.StreamReader, exposition: Exposition, listener: Listener
) -> None:
    """Until the polling process closes our stdin."""
    while True:
        try:
            kind, size = FRAME.unpack(await stdin.readexactly(FRAME.size))
            payload = await stdin.readexactly(size)
        except asyncio.IncompleteReadError:
            return
        if kind == b"X":
            generation, complete, heads, tails, owns = EXPOSITION.unpack_from(payload)
            at = EXPOSITION.size
            head = payload[at : at + heads]
            tail = payload[at + heads : at + heads + tails]
            own = payload[at + heads + tails : at + heads + tails + owns]
            exposition.update(generation, complete, head, tail, own)
        elif kind == b"W":
            problems = await listener.reload_web_config(payload.decode("utf-8", "surrogateescape"))
            tell({"reloaded": problems})


async def serve(options: FrontOptions) -> int:
    quiet_client_errors()
    gctune.tune_malloc()
    try:
        web_config = (
            await asyncio.to_thread(load_web_config, options.web_config)
            if options.web_config
            else WebConfig()
        )
    except ConfigError as exc:
        tell({"error": "; ".join(exc.problems)})
        return 2
    exposition = Exposition()
    guard = WebGuard(web_config, ParentCounter())
    tracker = BusyTracker()
    app = make_front_app(exposition, guard, tracker, options.internal)
    listener = Listener(
        app,
        guard,
        tracker,
        options.host,
        options.port,
        web_config,
        max_connections=options.max_connections,
        header_timeout=options.header_timeout,
    )
    try:
        await listener.start()
    except OSError as exc:
        tell({"error": exc.strerror or str(exc), "errno": exc.errno})
        return 1
    tell({"port": listener.port})
    loop = asyncio.get_running_loop()
    stdin = asyncio.StreamReader(limit=1 << 16)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stdin), sys.stdin.buffer)
    try:
        await read_commands(stdin, exposition, listener)
    finally:
        await listener.stop()
        guard.close()
        _remove_socket(options.internal)
    return 0


def _remove_socket(path: str) -> None:
    """The polling process's socket and its private directory, if it could not (killed)."""
    with contextlib.suppress(OSError):
        os.unlink(path)
    with contextlib.suppress(OSError):
        os.rmdir(os.path.dirname(path))  # only if empty


def main(argv: list[str]) -> int:
    options = FrontOptions(**json.loads(argv[0]))
    setup_logging(options.log_level, options.log_format)
    return asyncio.run(serve(options))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
