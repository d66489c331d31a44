"""Garbage-collector and heap settings for a process whose heap is large, long-lived and
acyclic.

The exporter's data (parsed records, rendered fragments, one poll loop per endpoint, the config)
lives for minutes and holds no reference cycles: reference counting frees it when a poll
replaces it. The cyclic collector would still walk all of it, again and again, as new records
are promoted through its generations: a quarter of the poll CPU at 1000 workspaces
(benchmarks/RESULTS.md), and pauses that grow with the fleet. So the serving process (not
--once, not the tests) freezes what exists once the first round is in (it is never scanned
again, and still freed by reference counting), collects on a clock rather than only on
CPython's allocation counts (collect_periodically), and gives the C heap's free pages back
after each render (release_free_memory).
"""

from __future__ import annotations

import asyncio
import functools
import gc
import logging
import time
from collections.abc import Awaitable, Callable

log = logging.getLogger("exporter.gc")

# allocations between two young collections (CPython's default: 700); the cyclic garbage of
# requests (exceptions with tracebacks, aiohttp's futures) dies young and is still collected.
# 50 000 saved no more CPU in a poll round than 10 000, and makes each pause 5x longer
YOUNG_THRESHOLD = 10_000


def tune() -> None:
    """At start-up, after the imports and the config: collect young objects less often, and
    never scan what exists now (modules, classes, the config) again; keep short-lived buffers
    in the C heap (tune_malloc)."""
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)
    tune_malloc()


# a block this size, allocated and freed once at start-up, raises glibc's threshold for giving
# a block a mapping of its own from 128 KiB to it (see tune_malloc)
MALLOC_SEED = 1 << 20


def tune_malloc() -> None:
    """Keep short-lived buffers in the C heap from the start. Every read of a socket (a
    scrape's request, a poll's answer) allocates asyncio's 256 KiB read buffer and frees it at
    once. glibc maps blocks over 128 KiB on their own, and raises that threshold to the size
    of any larger mapped block freed whole (up to 32 MiB, mallopt(3)); these buffers are
    shrunk before they are freed, so in a small fleet, where nothing larger is ever freed, each
    request cost an mmap, mremap, munmap and page faults: 30 of a plain scrape's 140 us of CPU
    at 10 workspaces (benchmarks/README.md). One block of MALLOC_SEED freed here raises the
    threshold past them; glibc keeps adjusting it from there as before (setting it with
    mallopt instead would stop that: at 1000 workspaces the 16 MB plain answers were then
    mapped at each scrape, and a fixed 32 MiB kept 14 MiB more RSS). Nothing happens
    without glibc."""
    seed = bytes(MALLOC_SEED)  # calloc: a mapping of its own, freed whole
    del seed


def settle(full: bool = False) -> None:
    """Freeze the survivors: the long-lived state of the fleet. After the first round, only
    the young generations are collected first (cheap; the cyclic garbage of requests dies
    young); after a reload (`full`), everything is unfrozen and collected once, so that cycles
    left by removed workspaces are freed too — a pause proportional to the fleet, at reloads
    only. What was frozen and later dies in a cycle stays until the next reload: bounded by
    the heap of the moment it was frozen."""
    started = time.perf_counter()
    if full:
        gc.unfreeze()
        gc.collect()
    else:
        gc.collect(1)
    gc.freeze()
    log.debug("froze %d objects in %.3fs", gc.get_freeze_count(), time.perf_counter() - started)


# the clock of collect_periodically: young objects every tenth of a second, the middle generation
# every 10 s, everything not frozen every 10 min
YOUNG_EVERY = 0.1
MIDDLE_EVERY = 100  # young collections
OLD_EVERY = 6000  # young collections


async def collect_periodically(
    every: float = YOUNG_EVERY,
    middle: int = MIDDLE_EVERY,
    old: int = OLD_EVERY,
    step_aside: Callable[[], Awaitable[None]] | None = None,
) -> None:
    """Collect on a clock, not only on allocation counts. CPython 3.11 counts allocations
    minus deallocations of any age, so when polls replace old records with new ones the
    count stays low while the young generation fills with every new record: a collection
    then came every ~10 s and walked ~100 000 objects, stalling the loop (and the scrapes in
    it) 45-85 ms (1000 workspaces polled every second). A young collection every tenth of a
    second walks only what that tenth made: 0.5-0.7 ms on average there (every quarter second:
    1.5 ms, for the same CPU per second; a scrape that meets one waits that long). Each waits
    for the scrapes in flight first (`step_aside`, bounded: see priority.py). The older
    generations get their turns too, so that cyclic garbage that outlived a young collection
    (a request that failed after hanging for seconds) is still freed."""
    ticks = 0
    while True:
        await asyncio.sleep(every)
        if step_aside is not None:
            await step_aside()
        ticks += 1
        gc.collect(2 if ticks % old == 0 else 1 if ticks % middle == 0 else 0)


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's malloc_trim, or None (musl, macOS: nothing to do there). ctypes is imported
    here, at the first render, not at start-up."""
    import ctypes

    try:
        trim: Callable[[int], int] = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return None
    return trim


def release_free_memory() -> None:
    """Give the C heap's free pages back to the system. Each render allocates and frees
    megabytes of short-lived buffers between the long-lived data; glibc keeps those pages
    (17 MB at 10 000 workspaces, growing slowly; benchmarks/README.md). Called in the render
    worker after each render: 3 ms there, without the GIL."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)
