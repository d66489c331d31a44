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
    from exporter import gctune

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

    from exporter import gctune

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


async def test_each_clocked_collection_first_steps_aside_for_scrapes() -> None:
    """A collection pauses the loop (and any scrape in it): each one first awaits the
    priority's step_aside, which holds it back while a scrape is being answered."""
    import asyncio
    import gc

    from exporter import gctune

    events: list[str] = []

    def record(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            events.append("collect")

    async def step_aside() -> None:
        events.append("aside")

    gc.callbacks.append(record)
    task = asyncio.create_task(gctune.collect_periodically(0.001, step_aside=step_aside))
    try:
        async with asyncio.timeout(30):
            while events.count("collect") < 5:
                await asyncio.sleep(0.01)
    finally:
        task.cancel()
        gc.callbacks.remove(record)
    # every clocked collection directly follows a step aside (a collection CPython starts on
    # its own allocation count may come anywhere: only ours are paired)
    clocked = [i for i, e in enumerate(events) if e == "aside"]
    assert len(clocked) >= 5
    assert all(events[i + 1] == "collect" for i in clocked if i + 1 < len(events))


# in a fresh interpreter: how many blocks glibc maps of their own for a 300 KiB buffer (the
# size of asyncio's read buffer), with or without the exporter's heap settings
MAPPED_BLOCKS = textwrap.dedent(
    """
    import ctypes, sys
    from exporter import gctune

    class MallInfo(ctypes.Structure):
        _fields_ = [(name, ctypes.c_size_t) for name in (
            "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost"
        ).split()]

    mallinfo = ctypes.CDLL(None).mallinfo2
    mallinfo.restype = MallInfo
    if sys.argv[1] == "tuned":
        gctune.tune_malloc()
    before = mallinfo().hblks
    block = bytes(300_000)
    print(mallinfo().hblks - before, end=" ")
    del block
    big = bytes(20 << 20)  # glibc still raises the threshold by itself past the seed
    del big
    block = bytes(5 << 20)
    print(mallinfo().hblks - before)
    """
)


def test_read_buffers_come_from_the_heap_not_a_mapping_each() -> None:
    """Every socket read allocates and frees a 256 KiB buffer; left to itself glibc maps
    each one (an mmap, mremap, munmap and page faults per request: 30 us of a small plain
    scrape's 140). After tune_malloc such a block comes from the heap."""

    def mapped(mode: str) -> list[str]:
        return subprocess.run(
            [sys.executable, "-c", MAPPED_BLOCKS, mode],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        ).stdout.split()

    assert mapped("default") == ["1", "0"]  # the probe sees glibc's default
    assert mapped("tuned") == ["0", "0"]
