"""The polling process's end of the front process (--web.front-process, see front.py).

Down the front's stdin go frames: `X`, the exposition (the open gzip stream of the fleet,
only when it changed, and its tail: the self-metrics compressed and the gzip trailer) after
every render and every second (the self-metrics); `W`, a path to re-read the web config from.
Up its stdout come JSON lines: the bound port (or why it could not bind), basic-auth failures
to count, the answers to `W`. Only the latest exposition is ever queued: a front that reads
slowly gets fewer updates, the polling process never buffers more than one.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import struct
import sys
from collections import deque
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # not imported in the front process, which uses this module's framing
    from .state import State
    from .web import Publisher

log = logging.getLogger("exporter")

FRAME = struct.Struct("!cI")  # kind, payload length
EXPOSITION = struct.Struct("!q?III")  # generation, complete, head, tail, own lengths
SELF_METRICS_EVERY = 1.0  # seconds; the self-metrics refresh as often (selfmetrics.py)
MAX_LINE = 1 << 20  # a line from the front: a reload's problems at most
STOP_WAIT = 1.0  # seconds the front gets to close its connections before it is killed


@dataclass(frozen=True)
class FrontOptions:
    """What the front is started with (one JSON argument)."""

    host: str
    port: int
    internal: str  # the polling process's unix socket for every other path
    max_connections: int
    header_timeout: float
    web_config: str | None  # the --web-config path: the front reads (and re-reads) it itself
    log_level: str = "info"
    log_format: str = "text"


def frame(kind: bytes, payload: bytes) -> bytes:
    return FRAME.pack(kind, len(payload)) + payload


def exposition_frame(
    generation: int, complete: bool, head: bytes, tail: bytes, own: bytes
) -> bytes:
    """`head` empty: the front keeps the one it has (only the self-metrics changed)."""
    fields = EXPOSITION.pack(generation, complete, len(head), len(tail), len(own))
    return frame(b"X", b"".join((fields, head, tail, own)))


class FrontLink:
    """Starts the front, feeds it the publisher's expositions, counts the auth failures it
    reports and relays web-config reloads; `lost` is set if it exits on its own."""

    def __init__(self, publisher: Publisher, state: State, options: FrontOptions) -> None:
        self.publisher = publisher
        self.state = state
        self.options = options
        self.process: asyncio.subprocess.Process | None = None
        self.lost = asyncio.Event()
        self._dirty = asyncio.Event()
        self._bound: asyncio.Future[int] | None = None
        self._reloads: deque[asyncio.Future[list[str]]] = deque()
        self._tasks: list[asyncio.Task[None]] = []
        self._sent_head: bytes | None = None
        self._stopping = False

    async def start(self) -> None:
        """Start the front; `bound()` then gives its port or raises its bind error."""
        loop = asyncio.get_running_loop()
        self._bound = loop.create_future()
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "exporter.front",
            json.dumps(asdict(self.options)),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            limit=MAX_LINE,
            start_new_session=True,  # a terminal's Ctrl-C stops us; we stop the front
        )
        self.publisher.on_publish = self._dirty.set
        self._dirty.set()
        self._tasks = [
            asyncio.create_task(self._listen(), name="front listen"),
            asyncio.create_task(self._feed(), name="front feed"),
            asyncio.create_task(self._tick(), name="front self-metrics"),
        ]

    async def bound(self) -> int:
        assert self._bound is not None
        return await self._bound

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(SELF_METRICS_EVERY)
            self._dirty.set()

    async def _feed(self) -> None:
        assert self.process is not None and self.process.stdin is not None
        stdin = self.process.stdin
        publisher = self.publisher
        while True:
            await self._dirty.wait()
            self._dirty.clear()
            if publisher.generation < 0:
                publisher.publish_now()  # something to serve from the first moment
            if not publisher.gzip_current:
                continue  # the first complete exposition, its gzip stream being made
            head = publisher.gzip_head
            tail = publisher.gzip_tail(own := publisher.self_metrics.text())
            new = head is not self._sent_head
            try:
                stdin.write(
                    exposition_frame(
                        publisher.generation, publisher.complete, head if new else b"", tail, own
                    )
                )
                await stdin.drain()
            except (ConnectionError, RuntimeError):
                return  # the front is gone: _listen says so
            self._sent_head = head

    async def _listen(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        stdout = self.process.stdout
        while line := await stdout.readline():
            try:
                message = json.loads(line)
            except ValueError:
                continue
            self._receive(message)
        code = await self.process.wait()
        if self._bound is not None and not self._bound.done():
            self._bound.set_exception(OSError(f"the front process exited ({code})"))
        for waiting in self._reloads:
            if not waiting.done():
                waiting.set_result(["the front process exited"])
        if not self._stopping:
            log.error("the front process exited (%s): stopping", code)
            self.lost.set()

    def _receive(self, message: dict[str, object]) -> None:
        assert self._bound is not None
        if "port" in message and not self._bound.done():
            self._bound.set_result(int(message["port"]))  # type: ignore[call-overload]
        elif "error" in message and not self._bound.done():
            errno = message.get("errno")
            self._bound.set_exception(
                OSError(errno if isinstance(errno, int) else 0, str(message["error"]))
            )
        elif "auth_failures" in message:
            self.state.auth_failures = int(message["auth_failures"])  # type: ignore[call-overload]
        elif "auth_failure" in message:
            self.state.record_auth_failure()
        elif "reloaded" in message and self._reloads:
            problems = message["reloaded"]
            self._reloads.popleft().set_result(
                [str(p) for p in problems] if isinstance(problems, list) else []
            )

    async def reload_web_config(self, path: str) -> list[str]:
        """The front re-reads the web config (see Listener.reload_web_config)."""
        assert self.process is not None and self.process.stdin is not None
        if self.lost.is_set():
            return ["the front process exited"]
        waiting: asyncio.Future[list[str]] = asyncio.get_running_loop().create_future()
        self._reloads.append(waiting)
        self.process.stdin.write(frame(b"W", path.encode("utf-8", "surrogateescape")))
        return await waiting

    async def stop(self) -> None:
        """Close the front's stdin (it closes its connections and exits), killing it if it
        has not in STOP_WAIT."""
        self._stopping = True
        self.publisher.on_publish = None
        for task in self._tasks[1:]:
            task.cancel()
        process = self.process
        if process is not None and process.returncode is None:
            assert process.stdin is not None
            process.stdin.close()
            try:
                async with asyncio.timeout(STOP_WAIT):
                    await process.wait()
            except TimeoutError:
                process.kill()
                await process.wait()
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
