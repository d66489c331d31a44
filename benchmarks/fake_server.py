"""Serve the benchmark fleet: python benchmarks/fake_server.py N LATENCY MODE PORT_FILE.

MODE "normal" answers after LATENCY seconds; "hang" never answers instances.get/statistics.list;
"hang-on-signal" answers normally until SIGUSR1, then hangs.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from fleet import workspaces

from exporter.demo import FakeRocketChat, hang


async def main(count: int, latency: float, mode: str, port_file: str) -> None:
    fleet = workspaces(count)

    def start_hanging() -> None:
        for workspace in fleet:
            workspace.overrides["instances.get"] = hang()
            workspace.overrides["statistics.list"] = hang()

    for workspace in fleet:
        workspace.latency = latency
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
