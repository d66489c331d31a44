"""Garbage-collection pauses at the standard cadence: python benchmarks/gc_pauses.py N SECONDS.

The state of N workspaces (default collectors), polls landing at the standard cadence (as in
render_cost.py) and the publisher rendering, with the serving process's GC settings
(runtime/gctune.py: freeze after the first round, young collections on a clock) unless
ROCKETCHAT_EXPORTER_GC_TUNING=off. Records every collection's pause (gc.callbacks) and the
longest the event loop was held (what a scrape arriving then waits, GC or not). Prints JSON.
"""

from __future__ import annotations

import asyncio
import gc
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from render_cost import answers, land, new_state

from exporter.exposition.publisher import Publisher
from exporter.runtime import gctune


async def loop_stalls(every: float, worst: list[float]) -> None:
    """The longest delay of a timer past its due time: what the loop made everything wait."""
    loop = asyncio.get_running_loop()
    while True:
        due = loop.time() + every
        await asyncio.sleep(every)
        worst[0] = max(worst[0], loop.time() - due)


async def main(count: int, seconds: float) -> None:
    gctune.tune()
    data = answers(count)
    state = new_state(data)
    publisher = Publisher(state)
    await publisher.render()
    publisher.complete = True
    gctune.settle()  # as after the first round
    pauses: dict[int, list[float]] = {0: [], 1: [], 2: []}
    started: list[float] = [0.0]

    def record(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            started[0] = time.perf_counter()
        else:
            pauses[info["generation"]].append(time.perf_counter() - started[0])

    worst = [0.0]
    tasks = [
        asyncio.create_task(publisher.run()),
        asyncio.create_task(gctune.collect_periodically()),
        asyncio.create_task(loop_stalls(0.01, worst)),
    ]
    gc.callbacks.append(record)
    await land(state, data, seconds)
    gc.callbacks.remove(record)
    for task in tasks:
        task.cancel()
    publisher.close()
    print(
        json.dumps(
            {
                "tuned": gctune.enabled(),
                "max_pause_ms": {g: max(p, default=0.0) * 1000 for g, p in pauses.items()},
                "collections": {g: len(p) for g, p in pauses.items()},
                "gc_seconds": sum(sum(p) for p in pauses.values()),
                "max_loop_stall_ms": worst[0] * 1000,
            }
        )
    )


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), float(sys.argv[2])))
