"""Serve the benchmark fleet: python benchmarks/fake_server.py N LATENCY MODE PORT_FILE.

MODE "normal" answers after LATENCY seconds; "hang" never answers instances.get/statistics.list;
"hang-on-signal" answers normally until SIGUSR1, then hangs. Every answer is encoded once at
start (the fleet's data does not change), so that at N = 10 000 the fake fleet's own CPU does
not become the bottleneck of the measurement on a 2-core machine.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from aiohttp import web
from fleet import workspaces

from exporter.demo.collectors import licenses_info_body
from exporter.demo.fleet import FakeWorkspace, Handler
from exporter.demo.server import FakeRocketChat

JSON = "application/json"


def hang() -> Handler:
    """Accept the request and never answer."""

    async def handler(request: web.Request) -> web.StreamResponse:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    return handler


def encoded(workspace: FakeWorkspace) -> dict[str, Handler]:
    """Handlers answering the workspace's routes with bytes encoded once."""
    _, stats = workspace.statistics_body({"sort": '{"createdAt":-1}', "count": "1"})
    seats = {"maxActiveUsers": None, "activeUsers": workspace.active_users(), "success": True}
    bodies = {
        "instances.get": workspace.instances_body(),
        "statistics.list": stats,
        "info": workspace.info_body(True),
        "licenses.maxActiveUsers": seats,
        "licenses.info": licenses_info_body(workspace),
    }
    handlers: dict[str, Handler] = {}
    for method, body in bodies.items():
        raw = json.dumps(body).encode()

        async def answer(request: web.Request, raw: bytes = raw) -> web.StreamResponse:
            return web.Response(body=raw, content_type=JSON)

        handlers[method] = answer
    return handlers


async def main(count: int, latency: float, mode: str, port_file: str) -> None:
    fleet = workspaces(count)

    def start_hanging() -> None:
        for workspace in fleet:
            workspace.overrides["instances.get"] = hang()
            workspace.overrides["statistics.list"] = hang()

    for workspace in fleet:
        workspace.latency = latency
        workspace.overrides.update(encoded(workspace))
    if mode == "hang":
        start_hanging()
    elif mode == "hang-on-signal":
        asyncio.get_running_loop().add_signal_handler(signal.SIGUSR1, start_hanging)
    server = FakeRocketChat(fleet)
    url = await server.start()
    Path(port_file).write_text(url)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), float(sys.argv[2]), sys.argv[3], sys.argv[4]))
