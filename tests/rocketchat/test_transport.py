"""Requests to Rocket.Chat over aiohttp's client (exporter/transport.py, rocketchat.py) against
raw servers that answer byte by byte as scripted: framings (length, chunked, close-delimited,
1xx, multi-member gzip), keep-alive reuse and its races, hostile answers refused with bounded
work, redirects never followed, and proxies from the environment or the config."""

from __future__ import annotations

import asyncio
import gzip
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from exporter.model.config import Secret, TLSConfig, TokenAuth, WorkspaceConfig
from exporter.rocketchat.client import RocketChatClient
from exporter.rocketchat.errors import PollError
from exporter.rocketchat.transport import Sessions, Target

from proxy import ForwardProxy

Script = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[object]]
TOKEN = "tok-SECRET-123"


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
    def port(self) -> int:
        assert self.server is not None
        return int(self.server.sockets[0].getsockname()[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


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


@pytest.fixture
async def sessions() -> AsyncIterator[Sessions]:
    pool = Sessions(max_concurrency=4)
    yield pool
    await pool.close()


def client_for(sessions: Sessions, url: str, limit: int = 1 << 20, **options: Any) -> Any:
    workspace = WorkspaceConfig(
        name="w",
        url=url,
        auth=TokenAuth(user_id="u1", token=Secret(TOKEN)),
        timeout=10.0,
        **options,
    )
    return RocketChatClient(sessions, workspace, limit)


async def get(sessions: Sessions, server: RawServer, limit: int = 1 << 20) -> Any:
    client = client_for(sessions, server.url, limit)
    return (await client.get("/api/v1/x", {"a": "b"})).body


def answering(answer: bytes) -> Script:
    """A server script: read one request, send `answer`, wait for the client to close."""

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(answer)
        await reader.read()

    return script


def answering_once(answer: bytes) -> Script:
    """A server script: read one request, send `answer` and close."""

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(answer)
        await writer.drain()

    return script


def ok(body: bytes, extra: bytes = b"") -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n%s\r\n%s" % (len(body), extra, body)


async def test_keep_alive_reuses_one_connection_and_sends_the_credentials_and_path(
    raw: Starter, sessions: Sessions
) -> None:
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for n in range(3):
            await server.read_request(reader)
            writer.write(ok(b'{"n": %d}' % n))

    server = await raw(script)
    client = client_for(sessions, server.url)
    bodies = [(await client.get("/api/v1/x", {"a": "b"})).body for _ in range(3)]
    assert bodies == [{"n": 0}, {"n": 1}, {"n": 2}]
    assert server.connections == 1
    first = server.requests[0].decode()
    assert first.startswith("GET /api/v1/x?a=b HTTP/1.1\r\n")
    assert f"Host: 127.0.0.1:{server.port}\r\n" in first
    assert "X-User-Id: u1\r\n" in first and f"X-Auth-Token: {TOKEN}\r\n" in first
    assert "Accept-Encoding: gzip, deflate\r\n" in first


async def test_a_chunked_gzip_answer_arriving_byte_by_byte_with_1xx_and_trailers(
    raw: Starter, sessions: Sessions
) -> None:
    body = b'{"instances": []}'.replace(b"[]", b"[" + b"1," * 500 + b"1]")
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
    response = await client_for(sessions, server.url).get("/api/v1/x")
    assert response.body == {"instances": [1] * 501}
    assert response.rate_remaining == 9


async def test_a_multi_member_gzip_answer_is_read_whole(raw: Starter, sessions: Sessions) -> None:
    """Two gzip streams back to back are one body (gzip(1) and aiohttp read them so)."""
    packed = gzip.compress(b'{"a": ') + gzip.compress(b"1}")
    server = await raw(answering(ok(packed, b"Content-Encoding: gzip\r\n")))
    assert await get(sessions, server) == {"a": 1}


@pytest.mark.parametrize(
    "padding",
    [b"\0" * 512, b"\0" * 70_000],  # one chunk; more than a read chunk (64 KiB)
)
async def test_zero_padding_after_the_last_gzip_member_is_skipped_as_gzip_does(
    raw: Starter, sessions: Sessions, padding: bytes
) -> None:
    packed = gzip.compress(b'{"a": ') + b"\0" * 7 + gzip.compress(b"1}") + padding
    assert gzip.decompress(packed) == b'{"a": 1}'  # what Python's gzip (and gzip(1)) read
    server = await raw(answering(ok(packed, b"Content-Encoding: gzip\r\n")))
    assert await get(sessions, server) == {"a": 1}


async def test_garbage_after_a_gzip_member_is_still_corrupt(
    raw: Starter, sessions: Sessions
) -> None:
    server = await raw(
        answering(ok(gzip.compress(b"{}") + b"\0\0junk", b"Content-Encoding: gzip\r\n"))
    )
    with pytest.raises(PollError) as error:
        await get(sessions, server)
    assert error.value.reason == "invalid_response" and "corrupt" in error.value.message


async def test_a_close_delimited_answer_ends_at_close(raw: Starter, sessions: Sessions) -> None:
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await server.read_request(reader)
        writer.write(b'HTTP/1.0 200 OK\r\n\r\n{"a": ')
        await writer.drain()
        writer.write(b"1}")

    server = await raw(script)
    assert await get(sessions, server) == {"a": 1}
    assert await get(sessions, server) == {"a": 1}
    assert server.connections == 2


async def test_a_kept_connection_the_server_closed_is_retried_once_on_a_new_one(
    raw: Starter, sessions: Sessions
) -> None:
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await server.read_request(reader)
        writer.write(ok(b"{}"))
        await writer.drain()
        await reader.read(1)  # the next request arrives: close without answering it

    server = await raw(script)
    client = client_for(sessions, server.url)
    assert (await client.get("/api/v1/x")).body == {}
    assert (await client.get("/api/v1/x")).body == {}  # the second connection answers
    assert server.connections == 2 and len(server.requests) == 2


async def test_a_body_cut_short_is_a_lost_connection(raw: Starter, sessions: Sessions) -> None:
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await server.read_request(reader)
        writer.write(b'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{"instances')

    server = await raw(script)
    with pytest.raises(PollError) as error:
        await get(sessions, server)
    assert error.value.reason == "connection" and "connection lost" in error.value.message


@pytest.mark.parametrize(
    "answer",
    [
        b"SSH-2.0-OpenSSH_9.6\r\n\r\n",
        b"HTTP/1.1 200 OK\r\n" + b"X: y\r\n" * 20_000,  # more headers than the cap
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}",
        b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n{}",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}XX",
    ],
    ids=["ssh", "headers", "two-lengths", "negative-length", "chunk-size", "chunk-framing"],
)
async def test_a_malformed_answer_is_refused_and_names_no_secret(
    raw: Starter, sessions: Sessions, answer: bytes
) -> None:
    server = await raw(answering(answer))
    with pytest.raises(PollError) as error:
        await get(sessions, server)
    assert error.value.reason in ("invalid_response", "connection")
    assert TOKEN not in error.value.message and "/api/v1/x" in error.value.message


async def test_an_endless_head_is_refused_after_a_bounded_read(
    raw: Starter, sessions: Sessions
) -> None:
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
    with pytest.raises(PollError) as error:
        await get(sessions, server)
    assert error.value.reason == "invalid_response"
    assert sent < 8 << 20  # stopped reading soon after the cap (socket buffers)


@pytest.mark.parametrize(
    "answer",
    [
        b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n",  # refused from the head alone
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        + (b"100\r\n" + b" " * 256 + b"\r\n") * 3,
        b"HTTP/1.0 200 OK\r\n\r\n" + b" " * 5000,  # close-delimited
        b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n%s"
        % (len(gzip.compress(b" " * 50_000)), gzip.compress(b" " * 50_000)),  # a bomb
        b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n%s"
        % (
            len(gzip.compress(b" " * 300) * 3),
            gzip.compress(b" " * 300) * 3,
        ),  # a bomb in several members
    ],
    ids=["length", "chunked", "close-delimited", "gzip-bomb", "multi-member-bomb"],
)
async def test_an_answer_over_the_limit_is_too_large(
    raw: Starter, sessions: Sessions, answer: bytes
) -> None:
    server = await raw(answering(answer))
    with pytest.raises(PollError) as error:
        await get(sessions, server, limit=400)
    assert error.value.reason == "too_large"


async def test_a_redirect_is_not_followed_and_the_credentials_stay_home(
    raw: Starter, sessions: Sessions
) -> None:
    elsewhere = await raw(answering(ok(b"{}")))
    location = f"{elsewhere.url}/api/v1/x".encode()
    server = await raw(
        answering(b"HTTP/1.1 302 Found\r\nLocation: %s\r\nContent-Length: 0\r\n\r\n" % location)
    )
    with pytest.raises(PollError) as error:
        await get(sessions, server)
    assert error.value.reason == "invalid_response" and "redirect" in error.value.message
    assert elsewhere.connections == 0


async def test_connect_failures_name_their_kind(sessions: Sessions) -> None:
    with pytest.raises(PollError) as refused:
        await client_for(sessions, "http://127.0.0.1:1").get("/api/v1/x")
    assert refused.value.reason == "connection" and "cannot connect" in refused.value.message
    with pytest.raises(PollError) as unknown:
        await client_for(sessions, "http://no-such-host.invalid").get("/api/v1/x")
    assert unknown.value.reason == "connection" and "does not resolve" in unknown.value.message


async def test_a_server_only_reachable_through_http_proxy_is_polled_through_it(
    raw: Starter, monkeypatch: pytest.MonkeyPatch
) -> None:
    """HTTP_PROXY from the environment (curl's rules): a name only the proxy resolves."""
    server = await raw(answering_once(ok(b'{"via": "proxy"}')))
    proxy = ForwardProxy({"rocketchat.internal": "127.0.0.1"})
    monkeypatch.setenv("HTTP_PROXY", await proxy.start())
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    sessions = Sessions(max_concurrency=4)  # after the environment is set: read once
    try:
        client = client_for(sessions, f"http://rocketchat.internal:{server.port}")
        assert (await client.get("/api/v1/instances.get")).body == {"via": "proxy"}
        assert proxy.seen == [f"http://rocketchat.internal:{server.port}/api/v1/instances.get"]
    finally:
        proxy.close()
        await sessions.close()


async def test_a_host_in_no_proxy_is_polled_directly(
    raw: Starter, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = await raw(answering(ok(b'{"via": "direct"}')))
    proxy = ForwardProxy({})
    monkeypatch.setenv("http_proxy", await proxy.start())
    monkeypatch.setenv("no_proxy", "localhost,127.0.0.1")
    sessions = Sessions(max_concurrency=4)  # after the environment is set: read once
    try:
        assert await get(sessions, server) == {"via": "direct"}
        assert proxy.seen == []
    finally:
        proxy.close()
        await sessions.close()


async def test_a_workspaces_proxy_url_overrides_the_environment(
    raw: Starter, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = await raw(answering_once(ok(b'{"via": "proxy_url"}')))
    proxy = ForwardProxy({"rocketchat.internal": "127.0.0.1"})
    proxy_url = await proxy.start()
    monkeypatch.setenv("NO_PROXY", "*")
    sessions = Sessions(max_concurrency=4)  # after the environment is set: read once
    try:
        client = client_for(
            sessions,
            f"http://rocketchat.internal:{server.port}",
            proxy_url=Secret(proxy_url),
        )
        assert (await client.get("/api/v1/x")).body == {"via": "proxy_url"}
        assert len(proxy.seen) == 1
    finally:
        proxy.close()
        await sessions.close()


async def test_a_proxy_that_cannot_be_reached_is_a_connection_failure_naming_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:1")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    sessions = Sessions(max_concurrency=4)  # after the environment is set: read once
    with pytest.raises(PollError) as error:
        await client_for(sessions, "http://rocketchat.internal:3000").get("/api/v1/x")
    assert error.value.reason == "connection" and "proxy" in error.value.message
    await sessions.close()


async def test_an_instances_own_health_answer_is_capped_at_64_kib(
    raw: Starter, sessions: Sessions
) -> None:
    """Real health answers are a few hundred bytes; a thousand instances answering big bodies
    must not take the memory the API's max_response_bytes (16 MiB) would allow each."""
    from exporter.rocketchat.client import PROBE_MAX_BYTES

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await small.read_request(reader)
        writer.write(ok(b'{"status": "ok"}'))
        await reader.read()

    small = await raw(script)
    big = await raw(answering(ok(b" " * (PROBE_MAX_BYTES + 1))))
    client = client_for(sessions, "http://chat.example.com", limit=16 << 20)
    assert await client.probe(Target(small.url), "/livez") == (200, b'{"status": "ok"}')
    with pytest.raises(PollError) as error:
        await client.probe(Target(big.url), "/livez")
    assert error.value.reason == "too_large"
    assert TOKEN.encode() not in small.requests[0]  # no credentials go to an instance


async def test_tls_failures_name_their_real_cause(
    raw: Starter, sessions: Sessions, certificate: tuple[Path, Path]
) -> None:
    """Not always "set tls.ca_file": a port that speaks plain HTTP, an untrusted (self-signed)
    certificate, and a trusted one for another host each say what they are."""

    async def plain_http(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1)  # a ClientHello: answered as a plain HTTP server would
        writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()

    plain = await raw(plain_http)
    with pytest.raises(PollError) as handshake:
        await client_for(sessions, f"https://127.0.0.1:{plain.port}").get("/api/v1/x")
    assert "TLS handshake failed (" in handshake.value.message, handshake.value.message

    cert, key = certificate
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)

    async def tls_script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()

    server = await asyncio.start_server(tls_script, "127.0.0.1", 0, ssl=context)
    port = server.sockets[0].getsockname()[1]
    try:
        with pytest.raises(PollError) as untrusted:
            await client_for(sessions, f"https://127.0.0.1:{port}").get("/api/v1/x")
        assert "self-signed certificate" in untrusted.value.message
        assert "tls.ca_file" in untrusted.value.message
        wrong_host = client_for(sessions, f"https://localhost:{port}", tls=TLSConfig(ca_file=cert))
        with pytest.raises(PollError) as mismatch:
            await wrong_host.get("/api/v1/x")
        assert "mismatch" in mismatch.value.message  # the certificate is for 127.0.0.1
        assert "issued for another host" in mismatch.value.message
    finally:
        server.close()
