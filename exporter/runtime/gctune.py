"""Garbage-collector settings for a process whose heap is large, long-lived and acyclic.

Why: the exporter's data (parsed records, rendered fragments, schedules, the config) lives for
minutes and holds no reference cycles, so reference counting frees it. CPython's cyclic collector
would still walk all of it whenever a full collection comes, stalling the event loop (and the
scrapes in it) for a time that grows with the fleet. So the serving process (not --once, not
the tests) freezes what exists once the first round is in, collects young objects on a clock,
and gives the C heap's free pages back after each render. benchmarks/README.md has the
measurements that keep each of these.

`ROCKETCHAT_EXPORTER_GC_TUNING=off` turns all of it off (the stock collector, nothing frozen, no
trimming): for chasing a leak with gc.get_objects() or a memory profiler.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import logging
import os
import time
from collections.abc import Callable

log = logging.getLogger("exporter.gc")

SWITCH = "ROCKETCHAT_EXPORTER_GC_TUNING"

# allocations between two young collections (CPython's default: 700): the cyclic garbage of
# requests (exceptions with tracebacks, futures) dies young and is still collected, less often
YOUNG_THRESHOLD = 10_000

# the clock of collect_periodically: young objects every tenth of a second, the middle
# generation every 100 ticks, everything not frozen every 6000 ticks (10 min)
YOUNG_EVERY = 0.1
MIDDLE_EVERY = 100
OLD_EVERY = 6000


def enabled() -> bool:
    """False when the environment switch turns the tuning off."""
    return os.environ.get(SWITCH, "on").strip().lower() not in ("off", "0", "false", "no")


def tune() -> None:
    """At start-up, after the imports and the config: collect young objects less often, and
    never scan what exists now (modules, classes, the config) again."""
    if not enabled():
        log.info("%s=off: the stock garbage collector, no tuning", SWITCH)
        return
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)


def settle(full: bool = False) -> None:
    """Freeze the survivors: the long-lived state of the fleet. After the first round only
    the young generations are collected first; after a reload (`full`) everything is unfrozen
    and collected once, so that cycles left by removed workspaces are freed too."""
    if not enabled():
        return
    started = time.perf_counter()
    if full:
        gc.unfreeze()
        gc.collect()
    else:
        gc.collect(1)
    gc.freeze()
    log.debug("froze %d objects in %.3fs", gc.get_freeze_count(), time.perf_counter() - started)


async def collect_periodically(
    every: float = YOUNG_EVERY, middle: int = MIDDLE_EVERY, old: int = OLD_EVERY
) -> None:
    """Collect on a clock, not only on allocation counts. CPython 3.11 counts allocations
    minus deallocations, so when polls replace old records with new ones the count stays low
    while the young generation fills: a collection then comes rarely and walks a lot at once.
    A young collection every tenth of a second walks only what that tenth made; the older
    generations get their turns too, so cyclic garbage that outlived a young collection is
    still freed."""
    if not enabled():
        return
    ticks = 0
    while True:
        await asyncio.sleep(every)
        ticks += 1
        gc.collect(2 if ticks % old == 0 else 1 if ticks % middle == 0 else 0)


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's malloc_trim, or None (musl, macOS: nothing to do there)."""
    import ctypes  # only where it is used: at the first render

    try:
        trim: Callable[[int], int] = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return None
    return trim


def release_free_memory() -> None:
    """Give the C heap's free pages back to the system. Each render allocates and frees
    megabytes of short-lived buffers between the long-lived data, and glibc keeps those pages.
    Called in the render worker thread after each render (it runs without the GIL)."""
    if not enabled():
        return
    trim = _malloc_trim()
    if trim is not None:
        trim(0)
