"""Heap settings of the serving process (exporter/gctune.py)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

# in a fresh interpreter: allocate ~200 MB of C-heap objects (bytes over pymalloc's 512 B go
# to malloc), free all but one in a hundred (the survivors keep the heap from shrinking by
# itself), then release; RSS before and after, in KiB
PROBE = textwrap.dedent(
    """
    import gc
    from pathlib import Path
    from exporter.runtime import gctune

    def rss():
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])

    blocks = [bytes(2000) + i.to_bytes(4, "little") for i in range(100_000)]
    kept = blocks[::100]
    del blocks
    gc.collect()
    before = rss()
    gctune.release_free_memory()
    print(before, rss(), len(kept))
    """
)


def test_release_free_memory_gives_freed_heap_pages_back_to_the_system() -> None:
    """Renders free megabytes between long-lived data; without a trim glibc keeps the pages
    and the exporter's RSS creeps up (benchmarks/README.md)."""
    out = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    before, after, kept = map(int, out.split())
    assert kept == 1000
    assert before - after > 100_000  # of the ~200 MB freed, more than 100 MB went back


async def test_collections_run_on_a_clock_each_generation_in_its_turn() -> None:
    """Young objects are collected every tick, the middle generation every `middle` ticks and
    the old one every `old` (CPython's own counts stay low while polls replace records, so
    without the clock one collection walked every new record at once)."""
    import asyncio
    import gc

    from exporter.runtime import gctune

    seen: list[int] = []

    def record(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            seen.append(info["generation"])

    gc.callbacks.append(record)
    task = asyncio.create_task(gctune.collect_periodically(0.005, middle=3, old=6))
    try:
        async with asyncio.timeout(30):
            while seen.count(2) < 2:
                await asyncio.sleep(0.01)
    finally:
        task.cancel()
        gc.callbacks.remove(record)
    assert seen.count(0) >= 4 and seen.count(1) >= 2  # every 3rd tick is at least a gen 1


SWITCHED_OFF = textwrap.dedent(
    """
    import asyncio, gc
    from exporter.runtime import gctune

    async def clock_returns():
        try:
            await asyncio.wait_for(gctune.collect_periodically(0.001), 0.2)
        except TimeoutError:
            return False
        return True

    threshold = gc.get_threshold()
    gctune.tune()
    gctune.settle()
    print(gc.get_threshold() == threshold, gc.get_freeze_count(), asyncio.run(clock_returns()))
    """
)


def test_the_environment_switch_turns_every_tuning_off() -> None:
    """ROCKETCHAT_EXPORTER_GC_TUNING=off: the stock collector (thresholds as CPython set
    them, nothing frozen, no clock), for chasing a leak."""
    import os

    def run(switch: str) -> list[str]:
        env = {**os.environ, "ROCKETCHAT_EXPORTER_GC_TUNING": switch}
        return subprocess.run(
            [sys.executable, "-c", SWITCHED_OFF],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
            env=env,
        ).stdout.split()

    assert run("off") == ["True", "0", "True"]
    tuned_threshold, frozen, clock_returned = run("on")
    assert tuned_threshold == "False" and int(frozen) > 1000 and clock_returned == "False"
