"""One full poll round, measured inside the process: python benchmarks/poll_round.py MODE CONFIG.

exporter: the exporter's own poller (GET, size cap, parse, state) for every endpoint.
baseline: only an aiohttp GET and json.loads of the same requests, same concurrency.
Both with the garbage-collector settings of the serving process (gctune.tune).
Prints JSON: wall seconds, CPU seconds of the round.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

import aiohttp

from exporter.collecting.registry import REQUESTS, endpoints
from exporter.config.load import load_config
from exporter.model.config import TokenAuth
from exporter.runtime import gctune
from exporter.runtime.poller import Poller, new_state


async def exporter_round(config_path: str) -> tuple[float, float, int]:
    config = load_config(config_path)
    state = new_state(config)
    poller = Poller(config, state)
    await poller.open()
    wall, cpu = time.perf_counter(), time.process_time()
    await poller.poll_all_once()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    await poller.close()
    up = sum(1 for w in state.workspaces.values() if w.up)
    return wall, cpu, up


async def baseline_round(config_path: str) -> tuple[float, float, int]:
    config = load_config(config_path)
    semaphore = asyncio.Semaphore(config.max_concurrency)
    connector = aiohttp.TCPConnector(limit=config.max_concurrency)
    ok = 0
    async with aiohttp.ClientSession(connector=connector) as session:

        async def get(url: str, params: dict[str, str] | None, headers: dict[str, str]) -> None:
            nonlocal ok
            async with semaphore, session.get(url, params=params, headers=headers) as resp:
                json.loads(await resp.read())
                ok += resp.status == 200

        jobs = []
        for w in config.workspaces:
            assert isinstance(w.auth, TokenAuth) and w.auth.token is not None
            headers = {"X-User-Id": w.auth.user_id, "X-Auth-Token": w.auth.token.reveal()}
            for endpoint, _ in endpoints(w):  # the same requests as the exporter's round
                _, request = REQUESTS[endpoint]
                params = dict(request.params()) if request.params else None
                jobs.append(get(w.url + request.path, params, headers))
        wall, cpu = time.perf_counter(), time.process_time()
        await asyncio.gather(*jobs)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return wall, cpu, ok // max(1, len(endpoints(config.workspaces[0])))


if __name__ == "__main__":
    mode, config_path = sys.argv[1], sys.argv[2]
    # both run with the serving process's interpreter settings (exporter/gctune.py)
    gctune.tune()
    runner = exporter_round if mode == "exporter" else baseline_round
    wall, cpu, up = asyncio.run(runner(config_path))
    print(json.dumps({"wall": wall, "cpu": cpu, "up": up}))
