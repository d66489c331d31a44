"""A lean HTTP/1.1 client for the poller's requests: GETs of a few fixed URLs and a login POST.

Why not aiohttp's client: per request it builds URL, multidict, request, response, timer and
trace objects, and at 1000 workspaces that machinery cost more CPU than everything else of a
poll (benchmarks/README.md: a round's CPU was 1.4-1.5x a bare aiohttp GET + json.loads). Here a
request is one write of its bytes and the answer is parsed as it arrives, in a Protocol.

What it does: keep-alive connections per origin (at most `max_idle` idle in all, none kept more
than KEEPALIVE_SECONDS), a GET on a reused connection that the server had closed is retried once
on a new one, DNS answers cached for DNS_TTL_SECONDS, TLS through the caller's SSLContext,
Content-Length, chunked and close-delimited bodies, 1xx answers skipped. What it refuses, with
bounded work: a head over MAX_HEAD_BYTES or MAX_HEADERS lines, malformed framing, a body over
the caller's limit as received or as decompressed (inflate.Inflater). No proxies, redirects or
cookies: the exporter uses none.
"""

from __future__ import annotations

import asyncio
import collections
import ipaddress
import socket
import ssl
import time
from typing import Any

import yarl

from .inflate import Inflater
from .rcerrors import PollError

MAX_HEAD_BYTES = 64 * 1024  # status line and headers of one answer
MAX_HEADERS = 128
MAX_LINE_BYTES = 4096  # a chunk-size line or a trailer line
KEEPALIVE_SECONDS = 15.0
DNS_TTL_SECONDS = 300.0
MAX_DNS_ENTRIES = 4096

# states of an answer being read
_HEAD, _LENGTH, _CHUNK_SIZE, _CHUNK_DATA, _CHUNK_END, _TRAILER, _UNTIL_CLOSE, _DONE = range(8)


class ConnectFailed(Exception):
    """No connection was made. `kind`: "dns", "certificate", "tls" or "os"."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(detail)
        self.kind, self.detail = kind, detail


class ConnectionLost(Exception):
    """The connection ended before the answer was complete; `early` if nothing had arrived."""

    def __init__(self, detail: str, *, early: bool = False) -> None:
        super().__init__(detail)
        self.detail, self.early = detail, early


class Target:
    """Where a request goes and what its request line names, parsed once per URL."""

    __slots__ = ("host", "host_header", "key", "port", "request_target", "tls")

    def __init__(self, url: str, tls: ssl.SSLContext | None) -> None:
        parsed = yarl.URL(url)  # IDNA host, percent-encoded path and query
        host, port = parsed.raw_host, parsed.port
        if parsed.scheme not in ("http", "https") or not host or port is None:
            raise ValueError("url must be http(s)://host[:port]/...")
        target = parsed.raw_path_qs or "/"
        if any(c in target or c in host for c in "\r\n\0 "):
            raise ValueError("url has a control character or space")
        self.host, self.port, self.request_target = host, port, target
        self.tls = tls if parsed.scheme == "https" else None
        shown = f"[{host}]" if ":" in host else host
        default = 443 if parsed.scheme == "https" else 80
        self.host_header = shown if port == default else f"{shown}:{port}"
        self.key = (host.lower(), port, id(self.tls) if self.tls is not None else 0)

    def beside(self, request_target: str) -> Target:
        """Another path (and query) at the same origin, without parsing the URL again; the
        caller encodes it."""
        other = object.__new__(Target)
        other.host, other.port, other.tls = self.host, self.port, self.tls
        other.host_header, other.key = self.host_header, self.key
        other.request_target = request_target
        return other


class Answer:
    """One answer, parsed as it arrives: the status, the headers (names lowercased, repeats
    joined with ", "), the body within `limit` (as received and as decompressed)."""

    __slots__ = (
        "_chunks",
        "_inflater",
        "_line",
        "_received",
        "_remaining",
        "_state",
        "headers",
        "keep_alive",
        "limit",
        "no_body",
        "path",
        "started",
        "status",
    )

    def __init__(self, path: str, limit: int, no_body: bool) -> None:
        self.path, self.limit, self.no_body = path, limit, no_body
        self.status = 0
        self.headers: dict[str, str] = {}
        self.keep_alive = False
        self.started = False  # any byte arrived
        self._state = _HEAD
        self._line = bytearray()  # a head, chunk-size line or trailers not complete yet
        self._remaining = 0
        self._chunks: list[bytes] = []
        self._received = Inflater("", path, limit)  # counts the bytes on the wire
        self._inflater: Inflater | None = None

    def body(self) -> bytes:
        chunks = self._chunks
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    def feed(self, data: bytes) -> bool:
        """Take the bytes that arrived; True once the answer is complete."""
        self.started = True
        while data:
            state = self._state
            if state in (_LENGTH, _CHUNK_DATA):
                data = self._take_counted(data)
            elif state == _HEAD:
                data = self._head(data)
            elif state == _CHUNK_SIZE:
                data = self._chunk_size(data)
            elif state == _CHUNK_END:
                data = self._chunk_end(data)
            elif state == _TRAILER:
                data = self._trailer(data)
            elif state == _UNTIL_CLOSE:
                self._take(data)
                data = b""
            else:  # _DONE, and more arrived than the answer: do not reuse the connection
                self.keep_alive = False
                return True
        return self._state == _DONE

    def feed_eof(self) -> None:
        """The server closed: complete a close-delimited body, or fail."""
        if self._state == _UNTIL_CLOSE:
            self._state = _DONE
        elif self._state != _DONE:
            raise ConnectionLost(
                "closed before the answer was complete" if self.started else "closed",
                early=not self.started,
            )

    def _bad(self, what: str) -> PollError:
        return PollError(
            "invalid_response",
            f"{self.path}: not a valid HTTP answer ({what}); check url (the port of a "
            "non-HTTP service?) and any proxy",
        )

    def _complete_line(self, data: bytes, end: bytes, cap: int) -> tuple[bytes, bytes] | None:
        """(the bytes up to `end`, what follows) once `end` has arrived, else None."""
        line = self._line
        if not line:
            i = data.find(end)
            if i >= 0:
                return data[:i], data[i + len(end) :]
            if len(data) > cap:
                raise self._bad("headers too large" if self._state == _HEAD else "line too long")
            line += data
            return None
        start = max(0, len(line) - len(end) + 1)
        line += data
        i = line.find(end, start)
        if i < 0:
            if len(line) > cap:
                raise self._bad("headers too large" if self._state == _HEAD else "line too long")
            return None
        whole = bytes(line)
        line.clear()
        return whole[:i], whole[i + len(end) :]

    def _head(self, data: bytes) -> bytes:
        found = self._complete_line(data, b"\r\n\r\n", MAX_HEAD_BYTES)
        if found is None:
            return b""
        head, rest = found
        if len(head) > MAX_HEAD_BYTES:
            raise self._bad("headers too large")
        lines = head.split(b"\r\n")
        if len(lines) > MAX_HEADERS + 1:
            raise self._bad("too many headers")
        version, _, status_rest = lines[0].partition(b" ")
        code = status_rest[:3]
        if version not in (b"HTTP/1.1", b"HTTP/1.0") or not (code.isdigit() and len(code) == 3):
            raise self._bad("status line")
        if status_rest[3:4] not in (b"", b" "):
            raise self._bad("status line")
        status = int(code)
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, colon, value = line.partition(b":")
            if not colon or not name or name != name.strip() or not name.isascii():
                raise self._bad("header line")
            key = name.decode("ascii").lower()
            text = value.strip().decode("latin-1")
            headers[key] = f"{headers[key]}, {text}" if key in headers else text
        if status < 200:
            if status == 101:
                raise self._bad("unexpected protocol switch")
            return rest  # 100 Continue, 103 Early Hints: the real answer follows
        self.status, self.headers = status, headers
        connection = headers.get("connection", "").lower()
        self.keep_alive = version == b"HTTP/1.1" and "close" not in connection
        self._frame(headers)
        return rest

    def _frame(self, headers: dict[str, str]) -> None:
        """How the body is delimited, from the head (RFC 9112 section 6.3)."""
        coding = headers.get("content-encoding", "")
        self._inflater = Inflater(coding, self.path, self.limit) if coding else None
        transfer = headers.get("transfer-encoding")
        length = headers.get("content-length")
        if self.no_body or self.status in (204, 304):
            self._state = _DONE
        elif transfer is not None:
            if length is not None:
                self.keep_alive = False  # both framings: read this one, trust nothing after
            if transfer.rpartition(",")[2].strip().lower() == "chunked":
                self._state = _CHUNK_SIZE
            else:
                self._state, self.keep_alive = _UNTIL_CLOSE, False
        elif length is not None:
            values = {part.strip() for part in length.split(",")}
            text = values.pop()
            if values or not (text.isascii() and text.isdigit()) or len(text) > 19:
                raise self._bad("Content-Length")
            declared = int(text)
            if declared > self.limit:
                raise PollError(
                    "too_large",
                    f"{self.path}: answer of {declared} bytes > {self.limit}; raise "
                    "max_response_bytes if it is legitimate",
                )
            self._remaining = declared
            self._state = _LENGTH if declared else _DONE
        else:
            self._state, self.keep_alive = _UNTIL_CLOSE, False

    def _take_counted(self, data: bytes) -> bytes:
        """Body bytes of a declared length (the whole body or one chunk)."""
        need = self._remaining
        if len(data) <= need:
            piece, data = data, b""
        else:
            piece, data = data[:need], data[need:]
        self._take(piece)
        self._remaining = need - len(piece)
        if not self._remaining:
            self._state = _DONE if self._state == _LENGTH else _CHUNK_END
        return data

    def _take(self, piece: bytes) -> None:
        self._received.feed(piece)
        inflater = self._inflater
        self._chunks.append(piece if inflater is None else inflater.feed(piece))

    def _chunk_size(self, data: bytes) -> bytes:
        found = self._complete_line(data, b"\r\n", MAX_LINE_BYTES)
        if found is None:
            return b""
        line, rest = found
        digits = line.partition(b";")[0].strip()
        if not digits or len(digits) > 16 or digits.strip(b"0123456789abcdefABCDEF"):
            raise self._bad("chunk size")
        size = int(digits, 16)
        if size == 0:
            self._state = _TRAILER
        else:
            self._received.expect(size)
            self._remaining, self._state = size, _CHUNK_DATA
        return rest

    def _chunk_end(self, data: bytes) -> bytes:
        line = self._line
        need = 2 - len(line)
        line += data[:need]
        if len(line) < 2:
            return b""
        if line != b"\r\n":
            raise self._bad("chunk framing")
        line.clear()
        self._state = _CHUNK_SIZE
        return data[need:]

    def _trailer(self, data: bytes) -> bytes:
        found = self._complete_line(data, b"\r\n", MAX_LINE_BYTES)
        if found is None:
            return b""
        line, rest = found
        self._received.feed(line)  # trailers count against the cap too
        if not line:
            self._state = _DONE
        return rest


class _Connection(asyncio.Protocol):
    """One keep-alive connection; at most one request on it at a time."""

    __slots__ = ("answer", "client", "closed", "idle_since", "key", "transport", "waiter")

    def __init__(self, client: HttpClient, key: tuple[str, int, int]) -> None:
        self.client, self.key = client, key
        self.transport: asyncio.Transport | None = None
        self.answer: Answer | None = None
        self.waiter: asyncio.Future[Answer] | None = None
        self.idle_since = 0.0
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        answer = self.answer
        if answer is None:  # a server talking out of turn: not a connection to reuse
            self.close()
            return
        try:
            done = answer.feed(data)
        except (PollError, ConnectionLost) as exc:
            self._finish(exc)
            self.close()
            return
        if done:
            self._finish(None)

    def eof_received(self) -> bool | None:
        self._end()
        return None  # close the transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.client._forget(self)
        self._end()

    def _end(self) -> None:
        answer = self.answer
        if answer is None:
            return
        try:
            answer.feed_eof()
        except ConnectionLost as exc:
            self._finish(exc)
            return
        self._finish(None)

    def _finish(self, exc: BaseException | None) -> None:
        waiter, answer = self.waiter, self.answer
        self.waiter = self.answer = None
        if waiter is None or waiter.done():
            return
        if exc is not None:
            waiter.set_exception(exc)
        else:
            assert answer is not None
            waiter.set_result(answer)

    async def exchange(self, request: bytes, answer: Answer) -> Answer:
        assert self.transport is not None
        if self.closed:
            raise ConnectionLost("closed", early=True)
        self.answer = answer
        waiter: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
        self.waiter = waiter
        self.transport.write(request)
        return await waiter

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


class Limiter:
    """At most `limit` holders at a time, served first come first served. Not asyncio's
    Semaphore: it takes each woken waiter out of its queue by searching it, and the first round
    queues every workspace's requests at once (2000 at 1000 workspaces, 5 % of the round's CPU
    went there); here a release hands the slot to the next waiter directly."""

    __slots__ = ("_free", "_waiters")

    def __init__(self, limit: int) -> None:
        self._free = limit
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()

    async def __aenter__(self) -> None:
        if self._free > 0 and not self._waiters:
            self._free -= 1
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self._release()  # handed a slot and cancelled at once: pass it on
            raise  # a cancelled waiter stays queued, done: _release skips it

    async def __aexit__(self, *_: object) -> None:
        self._release()

    def _release(self) -> None:
        waiters = self._waiters
        while waiters:
            waiter = waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self._free += 1


class HttpClient:
    """Connections shared by all workspaces; the caller bounds concurrency and time."""

    def __init__(self, max_idle: int) -> None:
        self.max_idle = max_idle
        self._idle: dict[tuple[str, int, int], list[_Connection]] = {}
        self._idle_order: dict[_Connection, None] = {}  # oldest first
        self._dns: dict[tuple[str, int], tuple[float, list[Any]]] = {}
        self._sweeper: asyncio.TimerHandle | None = None
        self.connections_made = 0
        self.closed = False

    async def request(
        self,
        target: Target,
        method: str,
        headers: str,
        body: bytes,
        path: str,
        limit: int,
    ) -> Answer:
        """One request; `headers` are "Name: value\\r\\n" lines; raises ConnectFailed,
        ConnectionLost or PollError (too large, malformed)."""
        lines = headers.count("\r\n")
        if headers.count("\n") != lines or headers.count("\r") != lines:
            raise ValueError("a header value has a line break")  # callers validate: a guard
        head = f"{method} {target.request_target} HTTP/1.1\r\nHost: {target.host_header}\r\n"
        request = f"{head}{headers}\r\n".encode("latin-1") + body
        retry = method == "GET"  # idempotent: safe to send again (and on a kept connection)
        while True:
            conn = self._reuse(target.key) if retry else None  # the retry: a new one
            reused = conn is not None
            if conn is None:
                conn = await self._connect(target)
            answer = Answer(path, limit, method == "HEAD")
            try:
                await conn.exchange(request, answer)
            except ConnectionLost as exc:
                conn.close()
                if reused and retry and exc.early:
                    retry = False  # the server had closed the idle connection: once more
                    continue
                raise
            except BaseException:  # cancelled (timeout), too large, malformed: never reused
                conn.close()
                raise
            if answer.keep_alive and not conn.closed:
                self._keep(conn)
            else:
                conn.close()
            return answer

    def _reuse(self, key: tuple[str, int, int]) -> _Connection | None:
        idle = self._idle.get(key)
        deadline = time.monotonic() - KEEPALIVE_SECONDS
        while idle:
            conn = idle[-1]  # the most recently kept
            self._forget(conn)
            transport = conn.transport
            if conn.idle_since > deadline and transport is not None and not transport.is_closing():
                return conn
            conn.close()
        return None

    def _keep(self, conn: _Connection) -> None:
        if self.closed:
            conn.close()
            return
        conn.idle_since = time.monotonic()
        self._idle.setdefault(conn.key, []).append(conn)
        self._idle_order[conn] = None
        while len(self._idle_order) > self.max_idle:
            self._drop(next(iter(self._idle_order)))
        if self._sweeper is None:
            loop = asyncio.get_running_loop()
            self._sweeper = loop.call_later(KEEPALIVE_SECONDS, self._sweep)

    def _sweep(self) -> None:
        """Close connections idle longer than KEEPALIVE_SECONDS (oldest first)."""
        self._sweeper = None
        deadline = time.monotonic() - KEEPALIVE_SECONDS
        for conn in list(self._idle_order):
            if conn.idle_since > deadline:
                break
            self._drop(conn)
        if self._idle_order:
            loop = asyncio.get_running_loop()
            self._sweeper = loop.call_later(KEEPALIVE_SECONDS / 2, self._sweep)

    def _drop(self, conn: _Connection) -> None:
        self._forget(conn)
        conn.close()

    def _forget(self, conn: _Connection) -> None:
        """Take a connection out of the idle ones (closed by us, or by the server)."""
        if conn in self._idle_order:
            del self._idle_order[conn]
            idle = self._idle[conn.key]
            idle.remove(conn)
            if not idle:
                del self._idle[conn.key]

    async def _connect(self, target: Target) -> _Connection:
        loop = asyncio.get_running_loop()
        addresses = await self._resolve(target.host, target.port)
        error: OSError | None = None
        for family, address in addresses:
            try:
                _, conn = await loop.create_connection(
                    lambda: _Connection(self, target.key),
                    address[0],
                    address[1],
                    family=family,
                    ssl=target.tls,
                    server_hostname=target.host if target.tls is not None else None,
                )
            except ssl.SSLCertVerificationError:
                raise ConnectFailed("certificate", "certificate not trusted") from None
            except ssl.SSLError:
                raise ConnectFailed("tls", "TLS handshake failed") from None
            except OSError as exc:
                error = exc
                continue
            self.connections_made += 1
            return conn
        detail = (error.strerror if error is not None else None) or "no address"
        raise ConnectFailed("os", detail)

    async def _resolve(self, host: str, port: int) -> list[Any]:
        """The host's addresses: an IP literal as is, a name through a cache of DNS_TTL_SECONDS."""
        try:
            ip = ipaddress.ip_address(host)
        except ValueError:
            pass
        else:
            family = socket.AF_INET6 if ip.version == 6 else socket.AF_INET
            return [(family, (host, port))]
        now = time.monotonic()
        cached = self._dns.get((host, port))
        if cached is not None and cached[0] > now:
            return cached[1]
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError):
            raise ConnectFailed("dns", "host name does not resolve") from None
        addresses = [(info[0], info[4]) for info in infos]
        if not addresses:
            raise ConnectFailed("dns", "host name does not resolve")
        if len(self._dns) >= MAX_DNS_ENTRIES:
            self._dns.clear()
        self._dns[(host, port)] = (now + DNS_TTL_SECONDS, addresses)
        return addresses

    async def close(self) -> None:
        self.closed = True
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        for conn in list(self._idle_order):
            self._drop(conn)
