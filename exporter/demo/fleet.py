"""The simulated fleet's data: instances, workspaces and their statistics records, as the real
server stores them version by version (both instances.get shapes, numbers as strings)."""

from __future__ import annotations

import base64
import json
import random
import secrets
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def iso(seconds: float) -> str:
    """Unix seconds -> the ISO-8601 form MongoDB dates take in JSON (millisecond precision)."""
    moment = datetime.fromtimestamp(seconds, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


@dataclass
class FakeInstance:
    """One server process as the instances collection and the broker see it."""

    instance_id: str
    host: str
    port: str = "3000"
    connected: bool = True
    local: bool = False
    conns: int | None = 100
    cpus: int = 4
    totalmem: int = 16_000_000_000
    freemem: int = 6_000_000_000
    loadavg: tuple[float, float, float] = (0.5, 0.6, 0.7)
    uptime: float = 1_000_000.0
    created_at: float = 1_750_000_000.0
    updated_at: float | None = None  # None: "now" at every answer (a live instance)
    name: str = "rocket.chat"
    node_version: str = "v22.16.0"
    has_os: bool = True
    # what its own /livez or /health says: "ok", "unhealthy" (realtime data stopped), or
    # "down" (does not answer: its health listener is not started)
    health: str = "ok"
    heap_ratio: float = 0.42
    lag_ms: float = 12.5
    listed_until: float | None = None  # Unix seconds after which instances.get omits it
    blind_to: set[str] = field(default_factory=set)  # ids of peers its own view says are down
    view_padding: int = 0  # bytes of junk in its own instances.get answer (the size cap)
    base_conns: int | None = None  # what the demo's drift stays near (set at the first drift)

    def record(self) -> dict[str, Any]:
        extra: dict[str, Any] = {
            "host": self.host,
            "port": self.port,
            "nodeVersion": self.node_version,
        }
        if self.has_os:
            extra["os"] = {
                "type": "Linux",
                "platform": "linux",
                "arch": "x64",
                "release": "6.1.0-demo",
                "uptime": self.uptime,
                "loadavg": list(self.loadavg),
                "totalmem": self.totalmem,
                "freemem": self.freemem,
                "cpus": self.cpus,
            }
        if self.conns is not None:
            extra["conns"] = self.conns
        updated = time.time() if self.updated_at is None else self.updated_at
        return {
            "_id": self.instance_id,
            "_createdAt": iso(self.created_at),
            "_updatedAt": iso(updated),
            "extraInformation": extra,
            "name": self.name,
            "pid": 1,
        }


def _stringify(value: Any) -> Any:
    """Every number as a string, like the developer.rocket.chat examples."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, list):
        return [_stringify(v) for v in value]
    if isinstance(value, dict):
        return {k: _stringify(v) for k, v in value.items()}
    return value


def make_statistics(
    version: str, created_at: float, users: int = 100, *, typo: bool = False
) -> dict[str, Any]:
    """A statistics record with the fields the exporter reads (typo: 0.61-era totlalLivechat)."""
    online, away, busy = users // 5, users // 10, users // 20
    record: dict[str, Any] = {
        "_id": secrets.token_hex(12),
        "version": version,
        "totalUsers": users,
        "activeUsers": users - users // 10,
        "onlineUsers": online,
        "awayUsers": away,
        "busyUsers": busy,
        "offlineUsers": users - online - away - busy,
        "totalRooms": users * 3,
        "totalChannels": users // 2,
        "totalPrivateGroups": users,
        "totalDirect": users + users // 2,
        "totalDiscussions": users // 4,
        "totalMessages": users * 500,
        "totalChannelMessages": users * 200,
        "totalPrivateGroupMessages": users * 150,
        "totalDirectMessages": users * 140,
        "totalLivechatMessages": users * 5,
        "totalDiscussionsMessages": users * 5,
        "uploadsTotal": users * 7,
        "uploadsTotalSize": users * 7 * 1_500_000,
        "totalLivechatVisitors": users // 3,
        "totalLivechatAgents": 4,
        "instanceCount": 1,
        "createdAt": iso(created_at),
        "_updatedAt": iso(created_at + 2),
    }
    record["totlalLivechat" if typo else "totalLivechat"] = users // 10
    if version.split(".")[0].isdigit() and int(version.split(".")[0]) >= 8:
        record["fileStoreType"] = "FileSystem"  # 8.x records say where uploads are
    if not typo:  # a modern record: the fields of the "more from the same record" table
        record.update(
            {
                "dailyPeakConnections": online + away,
                "maxMonthlyPeakConnections": (online + away) * 5 // 4,
                "uniqueUsersOfYesterday": {"data": [{"count": users // 2}]},
                "uniqueUsersOfLastWeek": {"data": [{"count": users * 3 // 4}]},
                "uniqueUsersOfLastMonth": {"data": [{"count": users * 9 // 10}]},
                "nonActiveUsers": users // 10,
                "activeGuests": users // 40,
                "appUsers": 2,
                "totalE2ERooms": users // 20,
                "totalEncryptedMessages": users * 3,
                "lastMessageSentAt": iso(created_at - 5),
                "departments": 2,
                "totalLivechatManagers": 1,
                "chatsOnHold": users // 25,
                "totalThreads": users * 4,
                "teams": {"totalTeams": users // 50},
                "apps": {"totalInstalled": 5, "totalActive": 4, "totalFailed": 0},
                "integrations": {"totalIncoming": 3, "totalIncomingActive": 2,
                                 "totalOutgoing": 1, "totalOutgoingActive": 1,
                                 "totalWithScriptEnabled": 1},
                "migration": {"_id": "control", "locked": False, "version": 316},
                "pushQueue": 0,
                "uncaughtExceptionsCount": 0,
                "lastLogin": time.strftime(
                    "%a %b %d %Y %H:%M:%S GMT+0000 (Coordinated Universal Time)",
                    time.gmtime(created_at - 60),
                ),
                "mongoVersion": "7.0.14",
                "mongoStorageEngine": "wiredTiger",
                "oplogEnabled": True,
                "msEnabled": False,
                "deploy": {"method": "docker", "platform": "selfinstall"},
            }
        )  # fmt: skip
    return record


@dataclass
class FakeWorkspace:
    """One simulated workspace; tests change its fields to script what the server answers."""

    name: str
    # "A" (3.10-5.x), "B" (6.0+), "B-strings" (numbers as strings), "B-ce" (6.0+ Community
    # Edition or microservices: no links reported, every item connected: false, none local)
    shape: str = "B"
    instances: list[FakeInstance] = field(default_factory=list)
    statistics: list[dict[str, Any]] = field(default_factory=list)  # storage order
    user_id: str = "exporterUserId001"
    token: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    username: str = "metrics-bot"
    password: str = field(default_factory=lambda: secrets.token_urlsafe(16))
    login_tokens: set[str] = field(default_factory=set)
    overrides: dict[str, Handler] = field(default_factory=dict)  # endpoint -> handler
    latency: float = 0.0
    # what /api/info reports; None: the version of the newest statistics record
    running_version: str | None = None
    # the support window /api/info carries from 6.5 on: days from now until the running
    # version's entry expires (None: no supportedVersions), and the oldest apps it accepts
    support_days: float | None = 365.0
    support_anchor: float = field(default_factory=time.time)  # "now" for support_days: stable
    minimum_clients: tuple[str, str] = ("3.9.6", "4.39.0")
    moving: bool = False  # values drift a little between answers (demo)
    down: int = 0  # an HTTP status every route answers (an HTML page), 0: none
    bare_livez: bool = False  # /livez without checks (they moved to /readyz upstream)
    links: bool = False  # the demo asks each of its instances for its own view (links)
    # licenses: seats (None: no limit), the licenses.info `license` object (None: Community
    # without a license) and whether the exporter's user has view-privileged-setting
    max_active_users: int | None = None
    license: dict[str, Any] | None = None
    privileged: bool = True
    # omnichannel: live agent counts and chats by state; False: no view-livechat-manager
    agents: dict[str, int] = field(default_factory=dict)
    chats: dict[str, int] = field(default_factory=lambda: {"open": 0, "closed": 0, "queued": 0})
    livechat_manager: bool = True
    requests: Counter[str] = field(default_factory=Counter)
    statistics_queries: list[dict[str, str]] = field(default_factory=list)

    def instances_body(self, viewer: FakeInstance | None = None) -> dict[str, Any]:
        """The answer of the instance the load balancer picked, or of `viewer` asked at its
        own address (the links collector): its peers as it sees them."""
        if self.moving and viewer is None:
            self._drift()
        now = time.time()
        items = [
            self._shape_a(i) if self.shape == "A" else self._shape_b(i, viewer)
            for i in self.instances
            if i.listed_until is None or now < i.listed_until
        ]
        return {"instances": items, "success": True}

    def _drift(self) -> None:
        """A few connections up or down, never far from where it started: the demo's alert
        conditions hold steadily instead of walking in and out of a threshold."""
        for instance in self.instances:
            if instance.conns is not None:
                if instance.base_conns is None:
                    instance.base_conns = instance.conns
                instance.conns = max(0, instance.base_conns + random.randint(-3, 3))

    def _shape_b(self, instance: FakeInstance, viewer: FakeInstance | None) -> dict[str, Any]:
        record = instance.record()
        local, connected = instance.local, instance.connected
        if viewer is not None:
            local = instance is viewer
            connected = local or (connected and instance.instance_id not in viewer.blind_to)
        status: dict[str, Any] = {"connected": connected}
        element: dict[str, Any] = {}
        if self.shape == "B-ce":
            status = {"connected": False}
        elif connected:
            element["address"] = instance.host
            status["lastHeartbeatTime"] = 12 if local else 611004
            status["local"] = local
        if self.shape == "B-strings":
            record = _stringify(record)
            status = {k: str(v) if k == "lastHeartbeatTime" else v for k, v in status.items()}
        element.update(currentStatus=status, instanceRecord=record, broadcastAuth=True)
        return element

    def _shape_a(self, instance: FakeInstance) -> dict[str, Any]:
        record = instance.record()
        record["extraInformation"].pop("conns", None)  # conns came with 6.0
        if not instance.local:
            status: dict[str, Any] = {
                "status": "connected" if instance.connected else "waiting",
                "connected": instance.connected,
                "retryCount": 0 if instance.connected else 4,
            }
            record["connection"] = {
                "address": f"{instance.host}:{instance.port}/",
                "currentStatus": status,
                "broadcastAuth": True,
            }
        return record

    def info_body(self, privileged: bool) -> dict[str, Any]:
        """/api/info (6.5+ shape): "X.Y" for anyone, the full version and `info` for a caller
        with view-statistics (the exporter's user)."""
        version = self.running_version
        if version is None:
            newest = max(self.statistics, key=lambda r: str(r.get("createdAt")), default={})
            version = str(newest.get("version") or "8.8.1")
        short = ".".join(version.split(".")[:2])
        body: dict[str, Any] = {"version": short, "success": True}
        try:
            since_6_5 = tuple(int(p) for p in version.split(".")[:2]) >= (6, 5)
        except ValueError:
            since_6_5 = False
        if since_6_5:
            desktop, mobile = self.minimum_clients
            body["minimumClientVersions"] = {"desktop": desktop, "mobile": mobile}
            if self.support_days is not None:
                expiration = self.support_anchor + self.support_days * 86400
                body["supportedVersions"] = {"signed": signed_support(short, expiration)}
        if privileged:
            body.update(version=version, info={"version": version, "build": {"cpus": 4}})
        return body

    def version(self) -> tuple[int, int]:
        """Major and minor of the version the workspace runs."""
        running = self.info_body(True)["version"]
        major, minor = (int(p) for p in str(running).split(".")[:2])
        return major, minor

    def active_users(self) -> int:
        newest = max(self.statistics, key=lambda r: str(r.get("createdAt")), default={})
        return int(newest.get("activeUsers") or 0)

    def statistics_body(self, query: dict[str, str]) -> tuple[int, dict[str, Any]]:
        """statistics.list as the server pages it: default count 50 (max 100), sort by JSON."""
        records = list(self.statistics)
        if "sort" in query:
            try:
                sort = json.loads(query["sort"])
            except ValueError:
                return 400, {"success": False, "error": "error-invalid-sort"}
            if not isinstance(sort, dict) or any(v not in (1, -1) for v in sort.values()):
                return 400, {"success": False, "error": "error-invalid-sort"}
            direction = sort.get("createdAt")
            if direction is not None:
                records.sort(key=lambda r: str(r.get("createdAt")), reverse=direction == -1)
        count = int(query.get("count", "50"))
        offset = int(query.get("offset", "0"))
        page = records[offset:] if count == 0 else records[offset : offset + min(count, 100)]
        return 200, {
            "statistics": page,
            "count": len(page),
            "offset": offset,
            "total": len(records),
            "success": True,
        }

    def authorized(self, request: web.Request) -> bool:
        if request.headers.get("X-User-Id") != self.user_id:
            return False
        token = request.headers.get("X-Auth-Token", "")
        return secrets.compare_digest(token, self.token) or token in self.login_tokens


def signed_support(short: str, expiration: float) -> str:
    """A support list as the server ships it: a JWT of three base64url parts without padding
    (the signature is a placeholder: the exporter reads the payload, it does not verify it).
    The running X.Y expires at `expiration`; enforcement started long ago."""

    def part(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).decode().rstrip("=")

    def iso(seconds: float) -> str:
        return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")

    payload = {
        "timestamp": iso(time.time() - 86400),
        "enforcementStartDate": "2023-12-15T00:00:00.000Z",
        "versions": [{"version": f"{short}.0", "expiration": iso(expiration)}],
    }
    header = part(json.dumps({"alg": "RS256", "typ": "JWT"}).encode())
    return f"{header}.{part(json.dumps(payload).encode())}.{part(b'demo-signature')}"
