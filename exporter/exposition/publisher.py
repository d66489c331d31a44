"""The published exposition: rendered in the background, served as ready bytes.

Why: a scrape then costs the same whether a thousand polls are landing or none; see Publisher.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import zlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from exporter.exposition.render import Renderer
from exporter.exposition.selfmetrics import SelfMetrics, finish_gzip, open_gzip
from exporter.runtime import gctune
from exporter.runtime.state import State

log = logging.getLogger("exporter.web")


class Publisher:
    """Holds the latest rendered exposition, plain and gzipped.

    A background task waits for the state to change, then re-renders, at most every
    max(1 s, 5x the CPU the last render took), with the join and gzip in its own worker
    thread: a scrape only sends ready bytes, so it costs the same whether a thousand polls are
    landing or none, and no other work (bcrypt checks, config loads) can queue in front of it.
    The price: what a scrape sees can lag the latest poll by one render interval (a second,
    usually; Prometheus scrapes every 15 s or so). The first complete exposition (the
    one /ready waits for) goes out at once.
    """

    MIN_INTERVAL = 1.0  # polls land all the time in a large fleet: one render a second at most

    def __init__(self, state: State) -> None:
        self.renderer = Renderer(state)
        self.state = state
        self.generation = -1
        # the exposition is kept as its parts (the renderer's fragments, not copied) and gzip;
        # the plain text only while plain scrapes come (see joined): Prometheus asks for gzip,
        # and in a large fleet a plain copy held all the time would be the largest object
        self.parts: list[bytes] = []
        self._joined: bytes | None = b""
        self._plain_scraped = False  # since the last render: the next one joins it too
        self._tail: tuple[zlib._Compress, bytes, bytes] | None = None  # see gzip_tail
        self.gzip_head, self.gzip_rest = open_gzip([])  # the open gzip stream of the parts
        self.gzip_current = True  # the stream is of the parts (see render)
        self.self_metrics = SelfMetrics()
        # the published exposition holds every workspace's first poll (then the state's
        # first_exposition event is set too)
        self.complete = False
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="render")

    def publish_now(self) -> None:
        complete = self.state.ready
        generation, parts = self.renderer.snapshot()
        self._publish(_assemble(parts, plain=False))
        self.generation = generation
        self._set_complete(complete)

    async def render(self) -> float:
        """Render and publish once; returns the CPU seconds it took (not time spent waiting).
        The workspaces' fragments are rendered and grouped by family in the loop, a batch at
        a time; the gzip stream and (if plain scrapes came) the plain text are made in the
        worker thread, in C calls short enough for the loop to take its turns (Python code
        there would hold the GIL for its whole switch interval while a scrape waits)."""
        complete = self.state.ready
        generation, parts = await self.renderer.snapshot_async()
        plain, self._plain_scraped = self._plain_scraped, False
        if complete and not self.complete:
            # the first complete exposition goes out before its gzip stream is made: until
            # then a gzip scrape gets it plain (/ready sooner)
            self.parts, self._joined, self.gzip_current = parts, None, False
            self.generation = generation
            self._set_complete(True)
        loop = asyncio.get_running_loop()
        published = await loop.run_in_executor(self._executor, _assemble, parts, plain)
        self._publish(published)
        self.generation = generation
        self._set_complete(complete)
        return self.renderer.last_render_seconds + published.worker_cpu

    def _publish(self, published: _Published) -> None:
        self.gzip_current = True
        self.parts = published.parts
        self.gzip_head, self.gzip_rest = published.gzip_head, published.gzip_rest
        self._joined = published.plain

    def gzip_tail(self, own: bytes) -> bytes:
        """The end of the gzip member: the self-metrics and the trailer, finished once per
        render and self-metrics refresh (each at most once a second), not at every scrape."""
        rest = self.gzip_rest
        cached = self._tail
        if cached is None or cached[0] is not rest or cached[1] is not own:
            cached = self._tail = (rest, own, finish_gzip(rest, own))
        return cached[2]

    def joined(self) -> bytes:
        """The plain exposition: joined by the render when plain scrapes came since the one
        before, else now (once per render)."""
        self._plain_scraped = True
        if self._joined is None:
            self._joined = b"".join(self.parts)
        return self._joined

    def _set_complete(self, complete: bool) -> None:
        if complete and not self.complete:
            self.complete = True
            self.state.first_exposition.set()

    async def run(self) -> None:
        # nothing rendered in the first interval unless the first round is in by then:
        # rendering the part of it already in would compete with it for the CPU (/ready later)
        await self._pause(self.MIN_INTERVAL)
        changed = self.state.changed
        while True:
            if self.state.generation == self.generation:
                changed.clear()
                await changed.wait()
            try:
                cost = await self.render()
            except Exception:  # a bug must not freeze /metrics on old values forever
                log.exception("rendering the exposition failed")
                self._publish(_assemble([], plain=False))
                await asyncio.sleep(1)
                continue
            await self._pause(max(self.MIN_INTERVAL, 5 * cost))

    async def _pause(self, seconds: float) -> None:
        """Wait before the next render, but not past the end of the first round: the first
        complete exposition goes out at once (/ready)."""
        changed = self.state.changed
        pause_until = time.monotonic() + seconds
        while (left := pause_until - time.monotonic()) > 0:
            if self.complete:
                await asyncio.sleep(left)
                break
            if self.state.ready:
                break
            changed.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(left):  # not wait_for: it may eat a cancel
                    await changed.wait()

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


@dataclass(frozen=True, slots=True)
class _Published:
    parts: list[bytes]
    gzip_head: bytes
    gzip_rest: zlib._Compress
    plain: bytes | None  # None: joined at the first plain scrape
    worker_cpu: float  # thread CPU seconds it took


def _assemble(parts: list[bytes], plain: bool) -> _Published:
    """The exposition's parts, open gzip stream and, if asked, plain text."""
    started = time.thread_time()
    text = None
    if plain:
        pieces = list(slices(parts))
        head, rest = open_gzip(pieces)
        text = b"".join(pieces)
    else:  # each piece is dropped once compressed: no transient copy of the whole
        head, rest = open_gzip(slices(parts))
    gctune.release_free_memory()
    return _Published(parts, head, rest, text, time.thread_time() - started)


SLICE_PARTS = 1024  # parts joined at a time: short C calls, never one whole copy


def slices(parts: list[bytes]) -> Iterator[bytes]:
    """The parts joined a slice at a time: few, mid-sized pieces, never one whole copy."""
    for start in range(0, len(parts), SLICE_PARTS):
        yield b"".join(parts[start : start + SLICE_PARTS])
