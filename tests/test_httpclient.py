"""The exporter's own HTTP/1.1 client against raw servers that answer byte by byte as scripted:
framings (length, chunked, close-delimited, 1xx), keep-alive reuse and its races, and hostile
answers (non-HTTP, endless heads, conflicting lengths, oversized bodies) refused with bounded
work."""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from exporter.httpclient import (
    MAX_HEAD_BYTES,
    ConnectFailed,
    ConnectionLost,
    HttpClient,
    Limiter,
    Target,
)
from exporter.rcerrors import PollError

Script = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[object]]


class RawServer:
    """A TCP server on 127.0.0.1 running `script` for every connection it accepts."""

    def __init__(self, script: Script) -> None:
        self.script = script
        self.connections = 0
        self.requests: list[bytes] = []
        self.server: asyncio.Server | None = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            await self.script(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def read_request(self, reader: asyncio.StreamReader) -> bytes:
        request = await reader.readuntil(b"\r\n\r\n")
        self.requests.append(request)
        return request

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}/api/v1/x?a=b"


Starter = Callable[[Script], Awaitable[RawServer]]


@pytest.fixture
async def raw() -> AsyncIterator[Starter]:
    servers: list[RawServer] = []

    async def start(script: Script) -> RawServer:
        server = RawServer(script)
        server.server = await asyncio.start_server(server._handle, "127.0.0.1", 0)
        servers.append(server)
        return server

    yield start
    for server in servers:
        assert server.server is not None
        server.server.close()


async def get(client: HttpClient, server: RawServer, limit: int = 1 << 20) -> tuple[int, bytes]:
    answer = await asyncio.wait_for(
        client.request(Target(server.url, None), "GET", "Accept: */*\r\n", b"", "/x", limit), 10
    )
    return answer.status, answer.body()


async def assert_each_get_on_a_new_connection(server: RawServer, body: bytes) -> None:
    client = HttpClient(max_idle=4)
    assert await get(client, server) == (200, body)
    assert await get(client, server) == (200, body)
    assert server.connections == 2
    await client.close()


def answering(answer: bytes) -> Script:
    """A server script: read one request, send `answer`, wait for the client to close."""

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(answer)
        await reader.read()

    return script


def ok(body: bytes, extra: bytes = b"") -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n%s\r\n%s" % (len(body), extra, body)


async def test_keep_alive_reuses_one_connection_and_sends_a_well_formed_request(
    raw: Starter,
) -> None:
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for n in range(3):
            await server.read_request(reader)
            writer.write(ok(b'{"n": %d}' % n))

    server = await raw(script)
    client = HttpClient(max_idle=4)
    assert [await get(client, server) for _ in range(3)] == [
        (200, b'{"n": 0}'),
        (200, b'{"n": 1}'),
        (200, b'{"n": 2}'),
    ]
    assert server.connections == 1 and client.connections_made == 1
    port = server.url.split(":")[2].split("/")[0]
    assert server.requests[0] == (
        f"GET /api/v1/x?a=b HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAccept: */*\r\n\r\n".encode()
    )
    await client.close()


async def test_a_chunked_gzip_answer_arriving_byte_by_byte_with_1xx_and_trailers(
    raw: Starter,
) -> None:
    body = b'{"instances": []}' * 50
    packed = gzip.compress(body)
    chunks = b"".join(
        b"%x;ext=1\r\n%s\r\n" % (len(packed[i : i + 100]), packed[i : i + 100])
        for i in range(0, len(packed), 100)
    )
    answer = (
        b"HTTP/1.1 100 Continue\r\n\r\n"
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Encoding: gzip\r\n"
        b"X-RateLimit-Remaining: 9\r\nVary: a\r\nVary: b\r\n\r\n" + chunks + b"0\r\nX-T: 1\r\n\r\n"
    )

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await server.read_request(reader)
        for i in range(len(answer)):
            writer.write(answer[i : i + 1])
            if i % 50 == 0:
                await writer.drain()
        await reader.read()

    server = await raw(script)
    client = HttpClient(max_idle=4)
    target = Target(server.url, None)
    result = await client.request(target, "GET", "", b"", "/x", 1 << 20)
    assert (result.status, result.body()) == (200, body)
    assert result.headers["x-ratelimit-remaining"] == "9" and result.headers["vary"] == "a, b"
    assert result.keep_alive
    await client.close()


async def test_a_close_delimited_answer_ends_at_close_and_is_not_reused(raw: Starter) -> None:
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await server.read_request(reader)
        writer.write(b'HTTP/1.0 200 OK\r\n\r\n{"a": ')
        await writer.drain()
        writer.write(b"1}")

    server = await raw(script)
    await assert_each_get_on_a_new_connection(server, b'{"a": 1}')


async def test_a_kept_connection_the_server_closed_is_retried_once_on_a_new_one(
    raw: Starter,
) -> None:
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await server.read_request(reader)
        writer.write(ok(b"{}"))
        await writer.drain()
        await reader.read(1)  # the next request arrives: close without answering it

    server = await raw(script)
    client = HttpClient(max_idle=4)
    assert await get(client, server) == (200, b"{}")
    assert await get(client, server) == (200, b"{}")  # the second connection answers
    assert server.connections == 2 and len(server.requests) == 2
    await client.close()


async def test_a_body_cut_short_is_a_lost_connection(raw: Starter) -> None:
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await server.read_request(reader)
        writer.write(b'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{"instances')

    server = await raw(script)
    client = HttpClient(max_idle=4)
    with pytest.raises(ConnectionLost) as lost:
        await get(client, server)
    assert not lost.value.early and "before the answer was complete" in lost.value.detail
    await client.close()


@pytest.mark.parametrize(
    ("answer", "what"),
    [
        (b"SSH-2.0-OpenSSH_9.6\r\n\r\n", "status line"),
        (b"HTTP/1.1 200 OK\r\n" + b"X: y\r\n" * 20_000, "headers too large"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}", "Content-Length"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n{}", "Content-Length"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "chunk size"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}XX", "chunk framing"),
        (b"HTTP/1.1 200 OK\r\n Folded: x\r\n\r\n", "header line"),
        (b"HTTP/1.1 101 Switching Protocols\r\n\r\n", "unexpected protocol switch"),
    ],
)
async def test_a_malformed_answer_is_an_invalid_response_naming_what(
    raw: Starter, answer: bytes, what: str
) -> None:
    server = await raw(answering(answer))
    client = HttpClient(max_idle=4)
    with pytest.raises(PollError) as error:
        await get(client, server)
    assert error.value.reason == "invalid_response" and what in error.value.message
    assert client._idle == {}  # a connection that broke HTTP is never reused
    await client.close()


async def test_an_endless_head_is_refused_after_a_bounded_read(raw: Starter) -> None:
    sent = 0

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal sent
        await server.read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\n")
        while True:
            writer.write(b"X-Pad: " + b"a" * 1000 + b"\r\n")
            sent += 1009
            await writer.drain()

    server = await raw(script)
    client = HttpClient(max_idle=4)
    with pytest.raises(PollError, match="headers too large"):
        await get(client, server)
    assert sent < 100 * MAX_HEAD_BYTES  # stopped reading soon after the cap (socket buffers)
    await client.close()


@pytest.mark.parametrize(
    "answer",
    [
        b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n",  # refused from the head alone
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2000\r\n",  # from the chunk size
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        + b"100\r\n"
        + b" " * 256
        + b"\r\n"
        + b"100\r\n"
        + b" " * 256
        + b"\r\n" * 20,
        b"HTTP/1.0 200 OK\r\n\r\n" + b" " * 5000,  # close-delimited
        b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n%s"
        % (len(gzip.compress(b" " * 50_000)), gzip.compress(b" " * 50_000)),  # a bomb
    ],
)
async def test_an_answer_over_the_limit_is_too_large(raw: Starter, answer: bytes) -> None:
    server = await raw(answering(answer))
    client = HttpClient(max_idle=4)
    with pytest.raises(PollError) as error:
        await get(client, server, limit=400)
    assert error.value.reason == "too_large"
    await client.close()


async def test_idle_connections_are_capped_across_origins(raw: Starter) -> None:
    servers = [await raw(answering(ok(b"{}"))) for _ in range(5)]
    client = HttpClient(max_idle=2)
    for server in servers:
        assert await get(client, server) == (200, b"{}")
    assert len(client._idle_order) == 2
    assert sum(len(v) for v in client._idle.values()) == 2
    await client.close()
    assert client._idle == {} and not client._idle_order


async def test_more_bytes_than_the_answer_means_the_connection_is_not_reused(raw: Starter) -> None:
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            await server.read_request(reader)
            writer.write(ok(b"{}") + b"HTTP/1.1 200 OK\r\n")  # a smuggled second answer

    server = await raw(script)
    await assert_each_get_on_a_new_connection(server, b"{}")


async def test_connect_failures_name_their_kind() -> None:
    client = HttpClient(max_idle=4)
    with pytest.raises(ConnectFailed) as refused:
        await get_url(client, "http://127.0.0.1:1/")
    assert refused.value.kind == "os"
    with pytest.raises(ConnectFailed) as unknown:
        await get_url(client, "http://no-such-host.invalid/")
    assert unknown.value.kind == "dns"
    await client.close()


async def get_url(client: HttpClient, url: str) -> None:
    await asyncio.wait_for(client.request(Target(url, None), "GET", "", b"", "/", 1000), 30)


def test_targets_are_parsed_once_with_the_host_header_a_server_expects() -> None:
    assert Target("http://[::1]:8080/a%20b?x=1", None).host_header == "[::1]:8080"
    https = Target("https://chat.example.com/api/v1/info", None)
    assert (https.host_header, https.port, https.request_target) == (
        "chat.example.com",
        443,
        "/api/v1/info",
    )
    with pytest.raises(ValueError):
        Target("ftp://x/", None)


async def test_a_header_value_with_a_line_break_is_never_sent(raw: Starter) -> None:
    server = await raw(lambda reader, writer: reader.read())
    client = HttpClient(max_idle=4)
    with pytest.raises(ValueError):
        await client.request(Target(server.url, None), "GET", "X: a\nB: c\r\n", b"", "/", 10)
    assert server.connections == 0
    await client.close()


async def test_the_limiter_serves_waiters_in_order_and_cancelled_ones_lose_no_slot() -> None:
    limiter = Limiter(2)
    order: list[int] = []
    release = asyncio.Event()

    async def hold(n: int) -> None:
        async with limiter:
            order.append(n)
            await release.wait()

    tasks = [asyncio.create_task(hold(n)) for n in range(6)]
    await wait_until(lambda: order == [0, 1])
    tasks[2].cancel()  # cancelled while queued: skipped, its turn goes to the next
    await asyncio.sleep(0)
    release.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    assert order == [0, 1, 3, 4, 5]
    assert limiter._free == 2 and not limiter._waiters  # every slot came back


async def test_a_waiter_handed_a_slot_and_cancelled_at_once_passes_it_on() -> None:
    limiter = Limiter(1)
    await limiter.__aenter__()
    first = asyncio.create_task(limiter.__aenter__())
    second = asyncio.create_task(limiter.__aenter__())
    await asyncio.sleep(0)
    await limiter.__aexit__()  # the slot goes to `first`...
    first.cancel()  # ...which is cancelled before it runs
    await asyncio.gather(first, return_exceptions=True)
    await asyncio.wait_for(second, 5)  # so `second` gets it
    await limiter.__aexit__()
    assert limiter._free == 1


async def wait_until(condition: Callable[[], bool], deadline: float = 10) -> None:
    end = asyncio.get_running_loop().time() + deadline
    while not condition():
        assert asyncio.get_running_loop().time() < end, "condition not met in time"
        await asyncio.sleep(0.001)
