"""Clients that do not read, ask for headers only, or weigh their encodings: /metrics answers in
slices as the socket drains, closes a connection that makes no progress, sends no body to HEAD
and honours q-values (exporter/web/server.py)."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer, make_mocked_request

from exporter.runtime.state import State
from exporter.web import server
from exporter.web.app import make_app
from exporter.web.inflight import InFlight
from exporter.web.server import WRITE_SLICE, accepts_gzip, send_exposition

from conftest import INSTANCES, wait_for

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


def test_slow_readers_of_a_changing_exposition_pin_a_bounded_amount_and_scrapes_go_on() -> None:
    """The issue's case, accelerated (benchmarks/slowreaders.py --quick): 120 readers of a
    10 MB exposition, each taking 512 bytes every 2 s, started while the exposition changes;
    without the bounds they pinned ~540 MiB here."""
    script = Path(__file__).parents[2] / "benchmarks" / "slowreaders.py"
    result = subprocess.run(
        [sys.executable, str(script), "--quick", "--only-bounded", "--json"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    (measured,) = json.loads(result.stdout)["results"]
    assert measured["exposition_mb"] >= 10
    assert measured["rss_growth_mib"] * 1.048576 <= 200, measured  # MiB -> MB
    assert measured["scrapes"] >= 5 and measured["scrapes_not_200"] == 0, measured


class Held:
    """A stand-in request: what InFlight reads of it is its transport, to abort."""

    def __init__(self) -> None:
        self.aborted = False
        self.transport = self

    def abort(self) -> None:
        self.aborted = True


def test_in_flight_cap_aborts_the_oldest_answer_never_the_newcomer() -> None:
    inflight = InFlight(max_answers=2, budget=1 << 30)
    body = b"x" * 10
    first, second, third = Held(), Held(), Held()
    for held in (first, second, third):
        inflight.admit(held, body)  # type: ignore[arg-type]
    assert (first.aborted, second.aborted, third.aborted) == (True, False, False)
    assert len(inflight) == 2


def test_in_flight_budget_lets_go_of_the_oldest_versions_first() -> None:
    inflight = InFlight(max_answers=100, budget=25)
    versions = [bytes([n]) * 10 for n in range(5)]
    readers = [Held() for _ in versions]
    keys = [inflight.admit(r, v) for r, v in zip(readers, versions, strict=True)]  # type: ignore[arg-type]
    # the current version is held anyway; of the older ones at most max(25, 2 x 10) bytes
    assert [r.aborted for r in readers] == [True, True, False, False, False]
    assert inflight.pinned(versions[-1]) == 20
    inflight.release(keys[-1])
    assert len(inflight) == 2
