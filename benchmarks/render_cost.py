"""Render CPU at the standard cadence, in one process: python benchmarks/render_cost.py N SECONDS.

Every workspace's instances.get lands every 30 s and its statistics, info and licenses every
5 min (as polls would: new parsed objects; the parsing itself is not counted — answers are
parsed beforehand). Measured for SECONDS of wall time:

exporter: the exporter's own Publisher (incremental render, join, open gzip stream) on the
          real State; CPU of every thread of the process per wall second.
cached:   (b') prometheus_client with the caching a careful author would add — re-render the
          whole registry (generate_latest + gzip) when any data changed, at most once per
          scrape — at Prometheus' default 15 s scrape interval (and 5 s): one full render per
          scrape, since data changes several times a second.
Prints JSON.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from fleet import workspaces
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

from exporter.collecting.registry import DEFAULTS
from exporter.collectors import instances, statistics
from exporter.collectors.info import parse_info
from exporter.collectors.instances import parse_instances
from exporter.collectors.licenses import parse_licenses_info, parse_max_active_users
from exporter.collectors.statistics import parse_statistics_list
from exporter.demo.collectors import licenses_info_body
from exporter.exposition.publisher import Publisher
from exporter.model.config import Config, TokenAuth, WorkspaceConfig
from exporter.runtime.poller import add_workspace
from exporter.runtime.state import State

INSTANCES, STATISTICS = instances.ANSWER.endpoint, statistics.RECORD.endpoint

SLOW = ("statistics.list", "info", "licenses.maxActiveUsers", "licenses.info")


DEFAULT_COLLECTORS = tuple((name, None) for name, on in DEFAULTS.items() if on)


def answers(count: int) -> dict[str, dict[str, list[Any]]]:
    """Per workspace and endpoint, two parsed answers to alternate between (new objects at
    every landing, as a poll produces)."""
    config = Config()
    found: dict[str, dict[str, list[Any]]] = {}
    for w in workspaces(count):
        _, stats = w.statistics_body({"sort": '{"createdAt":-1}', "count": "1"})
        seats = {"maxActiveUsers": None, "activeUsers": w.active_users(), "success": True}
        found[w.name] = {
            INSTANCES: [parse_instances(w.instances_body()) for _ in range(2)],
            STATISTICS: [parse_statistics_list(stats, config.extra_statistics) for _ in range(2)],
            "info": [parse_info(w.info_body(True)) for _ in range(2)],
            "licenses.maxActiveUsers": [parse_max_active_users(seats) for _ in range(2)],
            "licenses.info": [parse_licenses_info(licenses_info_body(w)) for _ in range(2)],
        }
    return found


def new_state(data: dict[str, dict[str, list[Any]]]) -> State:
    """The state the exporter would build for these workspaces with the default collectors,
    every endpoint holding its first answer."""
    state = State([])
    now = time.time()
    for name, endpoints in data.items():
        workspace = WorkspaceConfig(
            name=name, url="", auth=TokenAuth(user_id=""), collectors=DEFAULT_COLLECTORS
        )
        add_workspace(state, workspace)
        for endpoint, parsed in endpoints.items():
            state.record_success(name, endpoint, parsed[0], started=now, duration=0.01)
    return state


async def land(state: State, data: dict[str, dict[str, list[Any]]], seconds: float) -> int:
    """Polls landing at the standard cadence for `seconds`; returns how many landed."""
    names = list(data)
    per_second = len(names) / 30 * (1 + len(SLOW) / 10)  # instances every 30 s, the rest 5 min
    landed, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        due = int(elapsed * per_second)
        while landed < due:
            name = names[landed % len(names)]
            endpoint = INSTANCES if landed % 14 < 10 else SLOW[landed % 4]
            parsed = data[name][endpoint][(landed // len(names)) % 2]
            state.record_success(name, endpoint, parsed, started=time.time(), duration=0.01)
            landed += 1
        await asyncio.sleep(0.005)
    return landed


async def exporter_cost(count: int, seconds: float) -> tuple[dict[str, float], str]:
    data = answers(count)
    state = new_state(data)
    publisher = Publisher(state)
    await publisher.render()  # the first, complete exposition
    publisher.complete = True
    # the landing loop alone, without rendering: subtracted below
    cpu = time.process_time()
    await land(state, data, min(seconds, 5.0))
    idle_per_second = (time.process_time() - cpu) / min(seconds, 5.0)
    task = asyncio.create_task(publisher.run())
    cpu, wall = time.process_time(), time.perf_counter()
    landed = await land(state, data, seconds)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    task.cancel()
    publisher.close()
    figures = {
        "cpu_per_second": cpu / wall - idle_per_second,
        "landed_per_second": landed / wall,
        "bytes": len(publisher.joined()),
    }
    return figures, b"".join(publisher.parts).decode()


class _Families:
    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> Iterator[Metric]:
        yield from self.families


def cached_cost(exposition: str) -> dict[str, float]:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Families(list(text_string_to_metric_families(exposition))))
    costs = []
    for _ in range(3):
        cpu = time.process_time()
        gzip.compress(generate_latest(registry), compresslevel=1)
        costs.append(time.process_time() - cpu)
    render = sorted(costs)[1]
    return {"render_s": render, "cpu_per_second_15s": render / 15, "cpu_per_second_5s": render / 5}


async def main(count: int, seconds: float) -> None:
    exporter, exposition = await exporter_cost(count, seconds)
    print(json.dumps({"exporter": exporter, "cached": cached_cost(exposition)}))


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), float(sys.argv[2])))
