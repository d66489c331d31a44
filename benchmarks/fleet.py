"""The benchmark fleet: N workspaces x 5 instances, deterministic tokens, and its config file."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

from exporter.demo.fleet import FakeInstance, FakeWorkspace, make_statistics

INSTANCES_PER_WORKSPACE = 5


def workspaces(count: int) -> list[FakeWorkspace]:
    now = time.time()
    fleet = []
    for i in range(count):
        instances = [
            FakeInstance(
                str(uuid.UUID(int=i * 16 + j)),
                f"10.{i // 250}.{i % 250}.{j + 1}",
                local=j == 0,
                connected=j != 4,
                conns=100 + j,
            )
            for j in range(INSTANCES_PER_WORKSPACE)
        ]
        fleet.append(
            FakeWorkspace(
                name=f"ws{i:05d}",
                shape="B",
                instances=instances,
                statistics=[make_statistics("8.8.1", now - 3600, 500 + i)],
                user_id=f"user{i:05d}",
                token=f"token-{i:05d}-0123456789abcdef",
            )
        )
    return fleet


def write_config(
    path: Path,
    base_url: str,
    count: int,
    *,
    poll_interval: str = "30s",
    statistics_interval: str = "5m",
    timeout: str = "10s",
    collectors: str = "default",
    max_concurrency: int | None = None,
) -> Path:
    """collectors: "default" (info and licenses), "core" (none optional)."""
    lines = [
        f"poll_interval: {poll_interval}",
        f"statistics_interval: {statistics_interval}",
        f"timeout: {timeout}",
    ]
    if collectors == "core":
        lines.append("collectors: {info: false, licenses: false}")
    if max_concurrency is not None:
        lines.append(f"max_concurrency: {max_concurrency}")
    lines.append("workspaces:")
    for w in workspaces_names(count):
        index = int(w[2:])
        lines += [
            f"  - name: {w}",
            f"    url: {base_url}/ws/{w}/",
            f"    auth: {{user_id: user{index:05d}, token: token-{index:05d}-0123456789abcdef}}",
        ]
    path.write_text("\n".join(lines) + "\n")
    return path


def workspaces_names(count: int) -> list[str]:
    return [f"ws{i:05d}" for i in range(count)]
