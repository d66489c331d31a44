"""The listening socket, hardened against clients that never finish: idle and half-sent
requests are closed after HEADER_TIMEOUT, open connections are bounded (the oldest idle one
makes room for a newcomer), the soft fd limit is raised at start, and malformed requests are
logged as one rate-limited line each instead of a traceback each.
"""

from __future__ import annotations

import asyncio
import logging
import os
import resource
import socket
import ssl
import time
from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from exporter.collecting.expfmt import CONTENT_TYPE
from exporter.web.inflight import InFlight

log = logging.getLogger("exporter.web")

# aiohttp closes a connection that has not sent complete headers within its keep-alive timeout
# (counted from the connection or from the previous answer); under 60 s by contract, and not a
# multiple of the usual scrape intervals, so a kept-alive scrape connection never races it
HEADER_TIMEOUT = 45.0
TLS_HANDSHAKE_TIMEOUT = 30.0
MAX_CONNECTIONS_CAP = 10_000


def raise_fd_limit() -> int:
    """Raise the soft limit on open files to the hard one; returns the limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
    if soft == resource.RLIM_INFINITY or soft >= target:
        return soft if soft != resource.RLIM_INFINITY else 1 << 20
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    except (ValueError, OSError):
        return soft
    return target


def connection_budget(fd_limit: int, pollers: int) -> int:
    """How many client connections to keep open: half of what the fd limit leaves after the
    poller's sockets and a reserve (the other half is for TLS handshakes in progress)."""
    spare = fd_limit - pollers - 128
    return max(16, min(MAX_CONNECTIONS_CAP, spare // 2))


class BusyTracker:
    """Which connections are inside a handler now (a middleware marks them)."""

    def __init__(self) -> None:
        self.busy: set[web.RequestHandler] = set()  # removed again when the handler ends

    @web.middleware
    async def middleware(
        self,
        request: web.Request,
        handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
    ) -> web.StreamResponse:
        protocol = request.protocol
        self.busy.add(protocol)
        try:
            return await handler(request)
        finally:
            self.busy.discard(protocol)


class BoundedServer:
    """The listening socket: an asyncio server whose connections are the runner's aiohttp
    protocol (AppRunner.server, public API), keeping at most `max_connections` of them:
    accepting one more closes the oldest idle connection (or, if every one is busy, the
    oldest), so a flood of idle sockets can never lock out a scraper or exhaust file
    descriptors. Not a TCPSite subclass: that would mean overriding its private start."""

    def __init__(
        self,
        runner: web.AppRunner,
        host: str,
        port: int,
        *,
        max_connections: int,
        tracker: BusyTracker,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.runner = runner
        self.host, self.port = host, port
        self.ssl_context = ssl_context
        self.max_connections = max_connections
        self.tracker = tracker
        self.evicted = 0
        self._last_warning = 0.0
        self._servers: list[asyncio.Server] = []  # one; more while the TLS context changes

    def _make_protocol(self) -> web.RequestHandler:
        server = self.runner.server
        assert server is not None
        listed = server.connections
        # the usual case costs one count; at the limit, a connection closed a moment ago (still
        # listed until the loop runs its callback) is not counted nor chosen again
        open_now = (
            [h for h in listed if h.transport is not None]
            if len(listed) >= self.max_connections
            else listed
        )
        if len(open_now) >= self.max_connections:
            idle = [h for h in open_now if h not in self.tracker.busy]
            victim = (idle or open_now)[0]
            victim.force_close()
            self.evicted += 1
            now = time.monotonic()
            if now - self._last_warning > 60:
                self._last_warning = now
                log.warning(
                    "%d client connections open (the limit): closing the oldest idle ones "
                    "to accept new ones (%d so far)",
                    self.max_connections,
                    self.evicted,
                )
        return server()

    async def start(self) -> None:
        """Bind (an OSError when the port is taken); `port` is then the bound one."""
        loop = asyncio.get_running_loop()
        server = await loop.create_server(
            self._make_protocol,
            self.host or None,
            self.port,
            ssl=self.ssl_context,
            reuse_address=True,
            ssl_handshake_timeout=TLS_HANDSHAKE_TIMEOUT if self.ssl_context else None,
        )
        self._servers = [server]
        sockets = server.sockets
        if sockets:
            self.port = sockets[0].getsockname()[1]

    async def use_tls(self, ssl_context: ssl.SSLContext) -> None:
        """New handshakes use `ssl_context` from now on; the listening socket is never closed:
        a server with the new context starts on a duplicate of each listening socket before the
        old one stops accepting, so no connection attempt meets a closed port meanwhile (the
        kernel queues them). Connections already open go on with the context they have."""
        loop = asyncio.get_running_loop()
        old, new = self._servers, []
        try:
            for server in old:
                for listening in server.sockets:
                    duplicate = socket.socket(fileno=os.dup(listening.fileno()))
                    try:
                        new.append(
                            await loop.create_server(
                                self._make_protocol,
                                sock=duplicate,
                                ssl=ssl_context,
                                ssl_handshake_timeout=TLS_HANDSHAKE_TIMEOUT,
                            )
                        )
                    except BaseException:
                        duplicate.close()
                        raise
        except BaseException:
            for server in new:
                server.close()
            raise
        self._servers, self.ssl_context = new, ssl_context
        # the old servers stop accepting first, and only close once the connections they
        # accepted a moment ago have their transports: asyncio refuses to attach one to a
        # closed server, and that client would hang or be reset
        for server in old:
            for listening in server.sockets:
                loop.remove_reader(listening.fileno())
        for _ in range(2):
            await asyncio.sleep(0)
        for server in old:
            server.close()

    def stop(self) -> None:
        """Stop accepting; connections already open go on (the runner's cleanup ends them)."""
        for server in self._servers:
            server.close()
        self._servers = []


def accepts_gzip(request: web.Request) -> bool:
    """Whether the client takes gzip: its own q-value, else that of `*`, must be above 0
    (RFC 9110: `gzip;q=0` refuses it; no mention and no `*` means no)."""
    quality: dict[str, float] = {}
    for part in request.headers.get("Accept-Encoding", "")[:1024].split(","):
        coding, *params = (p.strip() for p in part.split(";"))
        q = 1.0
        for param in params:
            name, _, number = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(number)
                except ValueError:
                    q = 0.0
        quality.setdefault(coding.lower(), q if q == q else 0.0)  # NaN refuses too
    found = quality.get("gzip", quality.get("x-gzip", quality.get("*")))
    return found is not None and found > 0


# an answer is written this much at a time, each write waiting for the socket to drain: a
# client that stops reading holds one slice, not a copy of the exposition (at most
# --web.max-requests of them). 1 MiB, not less: at 128 KiB a 0.9 MB gzip answer took eight
# writes and drains, and its scrape p50 was 1.2-1.3x that of the same bytes sent in one
# (benchmarks/README.md, "The gzip scrape's lost edge")
WRITE_SLICE = 1024 * 1024
# a connection whose answer makes no progress for this long is closed
STALL_TIMEOUT = 60.0


async def send_exposition(
    request: web.Request,
    body: bytes,
    tail: bytes,
    *,
    gzipped: bool,
    inflight: InFlight | None = None,
) -> web.StreamResponse:
    """A /metrics answer: the exposition (or its open gzip stream) and its tail (the
    self-metrics, or their gzip end), never joined into one copy, written in slices as the
    client reads them (a watchdog closes it after STALL_TIMEOUT without progress; `inflight`
    bounds the answers and the versions they hold); HEAD gets the headers only."""
    response = web.StreamResponse(headers={"Content-Type": CONTENT_TYPE, "Vary": "Accept-Encoding"})
    if gzipped:
        response.headers["Content-Encoding"] = "gzip"
    response.content_length = len(body) + len(tail)
    await response.prepare(request)
    if request.method == "HEAD":
        return response
    loop = asyncio.get_running_loop()
    progress = [loop.time()]  # when the last slice was taken
    watchdog = _Watchdog(request, progress, loop)
    key = None if inflight is None else inflight.admit(request, body)
    try:
        for data in (body, tail):
            view = memoryview(data)
            for start in range(0, len(view), WRITE_SLICE):
                await response.write(view[start : start + WRITE_SLICE])
                progress[0] = loop.time()
        await response.write_eof()
    except ConnectionError:  # closed: by the watchdog, or the client left
        pass
    finally:
        watchdog.cancel()
        if inflight is not None and key is not None:
            inflight.release(key)
    return response


class _Watchdog:
    """Aborts a connection whose answer has made no progress for STALL_TIMEOUT: one timer per
    answer in flight, looking every few seconds (not a timeout per slice)."""

    def __init__(
        self, request: web.Request, progress: list[float], loop: asyncio.AbstractEventLoop
    ) -> None:
        self.request, self.progress, self.loop = request, progress, loop
        self.every = min(5.0, STALL_TIMEOUT / 4)
        self.handle = loop.call_later(self.every, self.check)

    def check(self) -> None:
        if self.loop.time() - self.progress[0] < STALL_TIMEOUT:
            self.handle = self.loop.call_later(self.every, self.check)
            return
        transport = self.request.transport
        if transport is not None:
            transport.abort()  # what the client has not taken is dropped
        log.debug("closed a connection that made no progress for %.0f s", STALL_TIMEOUT)

    def cancel(self) -> None:
        self.handle.cancel()


class QuietClientErrors(logging.Filter):
    """Malformed requests and client disconnects: one line without traceback, at most
    `per_minute` a minute, then a count of those left out."""

    def __init__(self, per_minute: int = 10) -> None:
        super().__init__()
        self.per_minute = per_minute
        self.window = 0.0
        self.shown = 0
        self.suppressed = 0

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        client_error = isinstance(exc, HttpProcessingError | ConnectionError | TimeoutError)
        accept_failed = record.name == "asyncio" and str(record.msg).startswith(_ACCEPT_FAILED)
        if not (client_error or accept_failed):
            return True
        now = time.monotonic()
        if now - self.window >= 60:
            left_out, self.suppressed = self.suppressed, 0
            self.window, self.shown = now, 0
            if left_out:
                log.warning("%d more malformed or broken client requests not logged", left_out)
        if self.shown >= self.per_minute:
            self.suppressed += 1
            return False
        self.shown += 1
        detail = getattr(exc, "message", None) or str(exc) or type(exc).__name__
        message = record.getMessage()
        record.msg = "%s (client request refused: %s)"
        record.args = (message, (str(detail).splitlines() or [""])[0][:200])
        record.exc_info = record.exc_text = None
        record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


_ACCEPT_FAILED = "socket.accept() out of system resource"  # asyncio's words for EMFILE & co


def quiet_client_errors() -> None:
    """Install the filter on aiohttp's server logger and on asyncio's (accept failures when the
    process runs out of file descriptors), once."""
    for name in ("aiohttp.server", "asyncio"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, QuietClientErrors) for f in logger.filters):
            logger.addFilter(QuietClientErrors())
