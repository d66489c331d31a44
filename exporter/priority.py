"""Scrapes first: while a /metrics answer is being sent, background work steps aside.

The exporter serves scrapes and polls in one event loop. A scrape only sends ready bytes, but
it waits for whatever else the loop runs between its writes: a render batch, the start of a
new poll, a garbage collection. Those can wait a few milliseconds without anyone noticing (a
poll every 30 s, a render every second), so they check here first. The wait is bounded: a
client that scrapes without pause slows them down, never stops them.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

MAX_PAUSE = 0.02  # seconds a piece of background work yields to scrapes in flight, at most


class ScrapePriority:
    def __init__(self) -> None:
        self.in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()

    @contextlib.contextmanager
    def scrape(self) -> Iterator[None]:
        """Around sending one /metrics answer."""
        self.in_flight += 1
        self._idle.clear()
        try:
            yield
        finally:
            self.in_flight -= 1
            if not self.in_flight:
                self._idle.set()

    async def pause(self) -> None:
        """Yield to the loop; while a scrape is in flight, until it ended (or MAX_PAUSE)."""
        if not self.in_flight:
            await asyncio.sleep(0)
            return
        await wait_at_most(self._idle, MAX_PAUSE)

    async def step_aside(self) -> None:
        """Background work that need not start now (a new poll, a garbage collection) waits
        for the scrapes in flight (or MAX_PAUSE); at once if none."""
        if self.in_flight:
            await self.pause()


async def wait_at_most(event: asyncio.Event, limit: float) -> None:
    """Until `event` is set, or `limit` seconds. asyncio.timeout, not wait_for: in 3.11
    wait_for can swallow a cancellation that arrives as the event is set (a poll loop then
    outlived its workspace and stop() hung)."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(limit):
            await event.wait()
