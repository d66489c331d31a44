"""The demo: the landscape `--demo` (and `make run`) shows, and the config that polls it.

The simulated server lives in demo/server.py (its collectors' routes in demo/collectors.py); the
scripted failures the tests use (hangs, bombs, cut answers) in tests/faults.py.
"""

from __future__ import annotations

import ipaddress
import time
from typing import Any

from exporter.collecting.registry import DEFAULTS, OPTIONAL
from exporter.collectors import links
from exporter.demo.collectors import community_license, enterprise_license
from exporter.demo.fleet import FakeInstance, FakeWorkspace, make_statistics
from exporter.demo.server import FakeRocketChat
from exporter.model.config import Config, Secret, TokenAuth, WorkspaceConfig

LOOPBACK = (ipaddress.ip_network("127.0.0.0/8"),)


def demo_workspaces() -> list[FakeWorkspace]:
    """Eight workspaces of different server versions, so that every panel has data and every
    alert condition holds steadily somewhere (the status pages name them at once, Prometheus
    fires them after their `for:`), beside two healthy workspaces:

    - acme-prod (8.8, Enterprise trial): seats at 97.5 %, license expiring in 10 days, 19 GB
      of uploads in GridFS; one
      instance crashed (disconnected, heartbeat stale, unhealthy, heap near its limit) and
      one removed a few seconds after the start (vanished);
    - acme-staging (7.10, Community license): private apps at their limit, a failed app,
      chats queued and no agent available; its apps stop accepting 7.10 in 12 days;
    - acme-eu (8.8, Enterprise): healthy (a year of support left, as every 6.5+ one else);
    - acme-us (8.8, Enterprise, links asked): instance 2 cannot reach instance 3, which still
      reaches it (a one-way break only the links collector sees);
    - acme-dr (8.8): every route answers 503 (workspace down);
    - legacy (4.8): healthy; too old for licenses.info and /health;
    - ancient (3.10): statistics a month old, migration lock held;
    - community (7.11, Community Edition: links not reported): near the presence cap, the
      exporter's user lacks view-livechat-manager (a collector failing), and 7.11 lost
      support 20 days ago (the apps refuse it).
    """
    now = time.time()
    day = 86400.0
    acme = FakeWorkspace(
        name="acme-prod",
        shape="B",
        instances=[
            FakeInstance(
                "5fccdc52-8d8e-4e80-a752-21e891e79a80",
                "10.40.2.11",
                local=True,
                conns=412,
                created_at=now - 7 * day,
            ),
            FakeInstance(
                "d1850fa6-55f5-4936-bdb4-ebbe336011df",
                "10.40.2.12",
                conns=398,
                created_at=now - 7 * day,
                loadavg=(0.66, 0.71, 0.7),
            ),
            FakeInstance(
                "7360b9da-1d12-47f7-ac65-d1c689ddba6b",
                "10.40.2.13",
                connected=False,
                conns=371,
                created_at=now - 2 * day,
                updated_at=now - 45,
                health="unhealthy",
                heap_ratio=0.91,
                lag_ms=180.0,
            ),
            FakeInstance(
                "0d6f4e9a-2b7c-4c1e-9f3a-8e5d7c6b4a21",
                "10.40.2.14",
                conns=120,
                created_at=now - 7 * day,
                listed_until=now + 20,  # scaled away after the first polls: vanished
            ),
        ],
        statistics=[
            stored_in(make_statistics("8.8.1", now - d * day, 1843 - d), "GridFS")
            for d in (3, 2, 1)
        ],
        moving=True,
        max_active_users=1700,  # 1658 active: 97.5 % of the seats
        license=enterprise_license(
            1700,
            now + 10 * day,
            trial=True,
            modules=("auditing", "livechat-enterprise", "scalability", "unlimited-presence"),
        ),
        agents={"available": 3, "away": 1, "busy": 2, "offline": 6},
        chats={"open": 14, "closed": 5210, "queued": 4, "onhold": 2},
    )
    staging = FakeWorkspace(
        name="acme-staging",
        support_days=12,  # its apps stop accepting 7.10 within 30 days
        shape="B-strings",
        instances=[
            FakeInstance(
                "0c1e5a77-5e2b-4d0e-9a55-0b6f4f0f6f01",
                "10.41.0.5",
                local=True,
                conns=12,
                cpus=2,
                totalmem=8_000_000_000,
            )
        ],
        statistics=[failed_app(make_statistics("7.10.2", now - 0.4 * day, 57))],
        moving=True,
        license=community_license(private_apps=3),  # at the Community limit of 3
        agents={"available": 0, "away": 1, "busy": 0, "offline": 2},
        chats={"open": 1, "closed": 40, "queued": 3, "onhold": 0},
    )
    legacy = FakeWorkspace(
        name="legacy",
        shape="A",
        instances=[
            FakeInstance("c2WixwPQsAYwmhGfp", "10.20.0.31", local=True, created_at=now - 9 * day),
            FakeInstance("tYduaPTnSCv5Xige4", "10.20.0.32", created_at=now - 9 * day),
        ],
        statistics=[make_statistics("4.8.7", now - h * 3600, 640) for h in (5, 3, 1)],
    )
    ancient = FakeWorkspace(
        name="ancient",
        shape="A",
        instances=[FakeInstance("ycQLn2XLy5PfPh9Zr", "10.0.1.11", local=True, cpus=2)],
        statistics=[locked(make_statistics("3.10.5", now - 30 * day, 88, typo=True))],
    )
    community = FakeWorkspace(
        name="community",
        support_days=-20,  # 7.11 lost support 20 days ago: the apps refuse it
        shape="B-ce",
        instances=[
            FakeInstance(
                "9b0e6a4c-3f1d-4b8e-8a61-5c2f7d9e1a01",
                "10.50.0.21",
                local=True,
                conns=101,
                created_at=now - 3 * day,
            ),
            FakeInstance(
                "1f4d2c88-7a9b-4e3c-b2d5-6e8f0a1b2c03",
                "10.50.0.22",
                conns=92,
                created_at=now - 3 * day,
            ),
        ],
        statistics=[make_statistics("7.11.0", now - 0.2 * day, 240)],
        moving=True,
        livechat_manager=False,  # the omnichannel collector fails: a permission missing
    )
    eu = FakeWorkspace(
        name="acme-eu",
        shape="B",
        instances=[
            FakeInstance(
                f"{n}e1d2c3b-4a59-4687-9a0b-1c2d3e4f5a6b",
                f"10.60.0.{n}",
                local=n == 1,
                conns=60 + 9 * n,
                created_at=now - 4 * day,
            )
            for n in (1, 2)
        ],
        statistics=[
            stored_in(make_statistics("8.8.1", now - d * day, 420 - d), "AmazonS3") for d in (2, 1)
        ],
        moving=True,
        max_active_users=500,
        license=enterprise_license(
            500, now + 200 * day, modules=("auditing", "scalability", "unlimited-presence")
        ),
        agents={"available": 2, "away": 0, "busy": 1, "offline": 1},
        chats={"open": 3, "closed": 800, "queued": 0, "onhold": 0},
    )
    dr = FakeWorkspace(
        name="acme-dr",
        shape="B",
        instances=[FakeInstance("9c8b7a65-4321-4fed-8cba-9876543210ff", "10.70.0.1", local=True)],
        statistics=[make_statistics("8.8.1", now - 0.5 * day, 1843)],
        down=503,  # a maintenance page on every route
    )
    us_ids = [f"{n}a7c3e10-5b2d-4f8e-9c61-2d4e6f8a0b1c" for n in (1, 2, 3)]
    us = FakeWorkspace(
        name="acme-us",
        shape="B",
        instances=[
            FakeInstance(us_ids[0], "10.80.0.1", local=True, conns=55, created_at=now - 5 * day),
            # its firewall lets it answer instance 3 but not reach it: a one-way break that
            # the answering instance's view cannot show; only the links collector does
            FakeInstance(
                us_ids[1], "10.80.0.2", conns=61, created_at=now - 5 * day, blind_to={us_ids[2]}
            ),
            FakeInstance(us_ids[2], "10.80.0.3", conns=48, created_at=now - 5 * day),
        ],
        statistics=[
            stored_in(make_statistics("8.8.1", now - d * day, 300 - d), "AmazonS3") for d in (2, 1)
        ],
        moving=True,
        max_active_users=1000,
        license=enterprise_license(
            1000, now + 300 * day, modules=("scalability", "unlimited-presence")
        ),
        links=True,
    )
    return [acme, staging, eu, us, dr, legacy, ancient, community]


def stored_in(record: dict[str, Any], file_store: str) -> dict[str, Any]:
    """The record of an 8.x workspace whose uploads are in `file_store` (fileStoreType)."""
    record["fileStoreType"] = file_store
    return record


def failed_app(record: dict[str, Any]) -> dict[str, Any]:
    """The record of a workspace where one installed app failed to start."""
    record["apps"] = {"totalInstalled": 5, "totalActive": 3, "totalFailed": 1}
    return record


def locked(record: dict[str, Any]) -> dict[str, Any]:
    """The record of a workspace whose migration lock is held (an upgrade stopped half-way)."""
    record["migration"] = {"_id": "control", "locked": True, "version": 197}
    return record


def config_for(
    server: FakeRocketChat,
    *,
    listen: tuple[str, int] = ("127.0.0.1", 9877),
    poll_interval: float = 15.0,
    statistics_interval: float = 60.0,
    timeout: float = 5.0,
    every_collector: bool = False,
) -> Config:
    """A Config that polls every workspace of the fake server with token auth (and, with
    every_collector, every optional collector at its default interval)."""
    defaults = tuple((name, None) for name, on in DEFAULTS.items() if on)
    collectors: tuple[tuple[str, float | None], ...] = (
        tuple((name, None) for name in OPTIONAL if name != "links") if every_collector else defaults
    )
    workspaces = tuple(
        WorkspaceConfig(
            name=w.name,
            url=server.url_of(w.name).rstrip("/"),
            auth=TokenAuth(user_id=w.user_id, token=Secret(w.token)),
            poll_interval=poll_interval,
            statistics_interval=statistics_interval,
            timeout=timeout,
            collectors=(*collectors, ("links", None))
            if every_collector and w.links
            else collectors,
        ).with_setting(links.NETWORKS, LOOPBACK)  # the simulated instances listen on 127.0.0.1
        for w in server.workspaces.values()
    )
    return Config(
        listen_host=listen[0], listen_port=listen[1], timeout=timeout, workspaces=workspaces
    )
