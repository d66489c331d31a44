"""Clients that do not read, ask for headers only, or weigh their encodings: /metrics answers in
slices as the socket drains, closes a connection that makes no progress, sends no body to HEAD
and honours q-values (exporter/web/server.py)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer, make_mocked_request

from exporter.runtime.state import INSTANCES, State
from exporter.web import server
from exporter.web.app import make_app
from exporter.web.server import WRITE_SLICE, accepts_gzip, send_exposition

from conftest import wait_for

BIG = b"rocketchat_up 1\n" * (2 << 20)  # 32 MiB: more than loopback's socket buffers hold


@pytest.fixture
async def big_answer() -> AsyncIterator[TestServer]:
    async def handler(request: web.Request) -> web.StreamResponse:
        return await send_exposition(request, BIG, b"# EOF-ish\n", gzipped=False)

    app = web.Application()
    app.router.add_get("/metrics", handler)
    test_server = TestServer(app)
    await test_server.start_server()
    yield test_server
    await test_server.close()


def open_client(port: int, request: bytes) -> socket.socket:
    client = socket.socket()
    client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    client.connect(("127.0.0.1", port))
    client.sendall(request)
    client.setblocking(False)
    return client


async def test_a_client_that_stops_reading_holds_one_slice_and_is_closed(
    big_answer: TestServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(server, "STALL_TIMEOUT", 1.0)
    runner = big_answer.runner
    assert big_answer.port is not None and runner is not None and runner.server is not None
    stalled = open_client(big_answer.port, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
    aiohttp_server = runner.server
    await wait_for(lambda: bool(aiohttp_server.connections), "accepted")
    (connection,) = aiohttp_server.connections
    buffered = 0

    def closed() -> bool:
        nonlocal buffered
        if connection.transport is None:
            return True
        buffered = max(buffered, connection.transport.get_write_buffer_size())
        return False

    # meanwhile a client that reads gets the whole answer
    reader, writer = await asyncio.open_connection("127.0.0.1", big_answer.port)
    writer.write(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    whole = await asyncio.wait_for(reader.read(), 30)
    assert whole.endswith(BIG + b"# EOF-ish\n")
    writer.close()
    await wait_for(closed, "the stalled connection closed by the server", deadline=30)
    assert buffered <= 2 * WRITE_SLICE  # never a copy of the 32 MiB answer
    stalled.setblocking(True)
    stalled.settimeout(30)
    received = 0
    try:  # what it had not taken is dropped: a reset, or an end before the whole answer
        while chunk := stalled.recv(1 << 20):
            received += len(chunk)
    except ConnectionResetError:
        pass
    assert received < len(BIG)
    stalled.close()


async def test_head_metrics_sends_headers_only_and_the_connection_stays_usable() -> None:
    state = State([("w", (INSTANCES,))])
    test_server = TestServer(make_app(state))
    await test_server.start_server()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", test_server.port)
        writer.write(
            b"HEAD /metrics HTTP/1.1\r\nHost: x\r\n\r\n"
            b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        answers = await asyncio.wait_for(reader.read(), 30)
        writer.close()
    finally:
        await test_server.close()
    head, _, rest = answers.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200") and b"Content-Length: " in head
    assert int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0]) > 0
    assert rest.startswith(b"HTTP/1.1 200 OK")  # the next answer follows at once: no body
    assert rest.endswith(b"ok\n")


@pytest.mark.parametrize(
    ("header", "gzip"),
    [
        ("gzip", True),
        ("gzip, deflate", True),
        ("deflate, gzip;q=0.5", True),
        ("gzip;q=0", False),
        ("gzip; q=0.000", False),
        ("GZIP;Q=0", False),
        ("gzip;q=nan", False),
        ("gzip;q=bogus", False),
        ("*", True),
        ("*;q=0", False),
        ("gzip;q=0, *", False),  # its own q-value wins over the wildcard's
        ("identity", False),
        ("", False),
        ("x-gzip", True),
    ],
)
def test_accept_encoding_q_values_are_honoured(header: str, gzip: bool) -> None:
    request = make_mocked_request("GET", "/metrics", headers={"Accept-Encoding": header})
    assert accepts_gzip(request) is gzip
