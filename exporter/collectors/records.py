"""Pure functions: instances.get and statistics.list bodies -> typed records.

A field of the wrong type is treated as absent (its series disappears), a body of the wrong shape
raises ParseError; the value readers are in rocketchat/values.py.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from exporter.collectors import statfields
from exporter.collectors.statfields import Values
from exporter.rocketchat.values import (
    ParseError,
    boolean,
    clean,
    mapping,
    number,
    only_parse_errors,
    shared,
    text,
    timestamp,
)

# Real clusters run a handful of instances, large ones a few dozen: an answer listing more is
# hostile or broken, and would flood Prometheus with series.
MAX_INSTANCES = 1000


# not frozen: a frozen dataclass's __init__ sets each field through object.__setattr__, several
# times slower, and records are made at every poll; they are never changed once parsed
@dataclass(slots=True)
class Instance:
    """One record of instances.get, whichever shape it came in."""

    instance_id: str
    host: str
    port: str
    name: str
    address: str
    node_version: str
    pid: str
    os_type: str
    os_platform: str
    os_arch: str
    os_release: str
    connected: bool | None
    cpus: float | None
    memory_total_bytes: float | None
    memory_free_bytes: float | None
    load1: float | None
    load5: float | None
    load15: float | None
    host_uptime_seconds: float | None
    connections: float | None
    start_time_seconds: float | None
    last_heartbeat_seconds: float | None


@dataclass(frozen=True, slots=True)
class InstancesAnswer:
    """One instances.get answer: its records, and whether it reported intra-cluster links.

    Community Edition and microservices deployments answer in shape B with every item
    `connected: false` and none `local: true`: the server did not look at links at all, so
    `connected` is unknown there (None), not false.
    """

    items: tuple[Instance, ...]
    links_reported: bool

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self) -> Iterator[Instance]:
        return iter(self.items)


@dataclass(slots=True)  # not frozen: see Instance
class Statistics:
    """The numbers of one statistics record; None = field absent (series absent)."""

    version: str | None
    created_at: float | None
    users: float | None
    active_users: float | None
    users_online: float | None
    users_away: float | None
    users_busy: float | None
    users_offline: float | None
    rooms: float | None
    rooms_channel: float | None
    rooms_private_group: float | None
    rooms_direct: float | None
    rooms_livechat: float | None
    rooms_discussion: float | None
    messages: float | None
    messages_channel: float | None
    messages_private_group: float | None
    messages_direct: float | None
    messages_livechat: float | None
    messages_discussion: float | None
    uploads: float | None
    uploads_size_bytes: float | None
    livechat_visitors: float | None
    livechat_agents: float | None
    # more from the same record (statfields.py), and the operator's extra_statistics
    more: Values = ()
    deployment: tuple[tuple[str, str], ...] | None = None
    extra: tuple[tuple[str, float], ...] = ()
    file_store: str | None = None  # fileStoreType


def _instance(record: dict[str, Any], address: str, connected: bool | None) -> Instance:
    record_id = record.get("_id")
    if not isinstance(record_id, str) or not record_id:
        raise ParseError("an instance record has no string _id")
    extra = mapping(record.get("extraInformation"))
    os_info = mapping(extra.get("os"))
    loadavg = os_info.get("loadavg")
    loads: list[Any] = list(loadavg[:3]) if isinstance(loadavg, list) else []
    loads += [None] * (3 - len(loads))
    return Instance(
        instance_id=clean(record_id[:128]),
        host=text(extra.get("host")),
        port=shared(extra.get("port")),
        name=shared(record.get("name")),
        address=address,
        node_version=shared(extra.get("nodeVersion")),
        pid=text(record.get("pid")),
        os_type=shared(os_info.get("type")),
        os_platform=shared(os_info.get("platform")),
        os_arch=shared(os_info.get("arch")),
        os_release=shared(os_info.get("release")),
        connected=connected,
        cpus=number(os_info.get("cpus")),
        memory_total_bytes=number(os_info.get("totalmem")),
        memory_free_bytes=number(os_info.get("freemem")),
        load1=number(loads[0]),
        load5=number(loads[1]),
        load15=number(loads[2]),
        host_uptime_seconds=number(os_info.get("uptime")),
        connections=number(extra.get("conns")),
        start_time_seconds=timestamp(record.get("_createdAt")),
        last_heartbeat_seconds=timestamp(record.get("_updatedAt")),
    )


def _is_local(element: dict[str, Any]) -> bool:
    """A shape-B item for the instance that answered (`currentStatus.local: true`)."""
    return boolean(mapping(element.get("currentStatus")).get("local")) is True


def _shape_b(element: dict[str, Any], links_reported: bool) -> Instance:
    """6.0+: {address?, currentStatus{connected, local?}, instanceRecord{...}}."""
    status = mapping(element.get("currentStatus"))
    record = element.get("instanceRecord")
    if not isinstance(record, dict):
        raise ParseError("an instances element has no instanceRecord object")
    connected: bool | None = None
    if links_reported:
        connected = True if _is_local(element) else boolean(status.get("connected"))
    return _instance(record, text(element.get("address")), connected)


def _shape_a(element: dict[str, Any]) -> Instance:
    """3.10-5.x: the raw document; peers this process links to carry `connection`."""
    connection = element.get("connection")
    if connection is None:
        return _instance(element, "", True)
    connection = mapping(connection)
    status = mapping(connection.get("currentStatus"))
    return _instance(element, text(connection.get("address")), boolean(status.get("connected")))


def _check_count(count: int) -> None:
    """The cardinality guard, whatever the shape."""
    if count > MAX_INSTANCES:
        raise ParseError(f"{count} instances listed, more than {MAX_INSTANCES}")


def _pr_draft(instances: dict[str, Any]) -> list[Instance]:
    """The unreleased {current, connections} shape of PR #19955 - tolerated, never in a tag."""
    current = mapping(instances.get("current")).get("instanceRecord")
    records = current if isinstance(current, list) else [current]
    connections = instances.get("connections", [])
    if not isinstance(connections, list):
        raise ParseError("instances.connections is not a list")
    _check_count(len(records) + len(connections))
    result: list[Instance] = []
    for record in records:
        if not isinstance(record, dict):
            raise ParseError("instances.current.instanceRecord is not an object")
        result.append(_instance(record, "", True))
    for element in connections:
        if not isinstance(element, dict):
            raise ParseError("an instances connection is not an object")
        result.append(_shape_b(element, links_reported=True))
    return result


def _listed(raw: list[Any]) -> tuple[list[Instance], bool]:
    """Shape A or B items, and whether the answer reported links (see InstancesAnswer)."""
    _check_count(len(raw))
    if not all(isinstance(element, dict) for element in raw):
        raise ParseError("an instances element is not an object")
    is_b = ["instanceRecord" in e or "currentStatus" in e for e in raw]
    links_reported = any(not b or _is_local(element) for element, b in zip(raw, is_b, strict=True))
    parsed = [
        _shape_b(element, links_reported) if b else _shape_a(element)
        for element, b in zip(raw, is_b, strict=True)
    ]
    return parsed, links_reported


@only_parse_errors
def parse_instances(body: Any) -> InstancesAnswer:
    """All instances of an instances.get answer (shape A, shape B or the PR draft)."""
    if not isinstance(body, dict) or "instances" not in body:
        raise ParseError("answer has no 'instances' field")
    raw = body["instances"]
    if isinstance(raw, dict):
        parsed, links_reported = _pr_draft(raw), True
    elif isinstance(raw, list):
        parsed, links_reported = _listed(raw)
    else:
        raise ParseError("'instances' is neither a list nor an object")
    unique: dict[str, Instance] = {}
    for instance in parsed:
        unique.setdefault(instance.instance_id, instance)  # a repeated _id would duplicate series
    return InstancesAnswer(tuple(unique.values()), links_reported)


@only_parse_errors
def parse_statistics_list(body: Any, extra_paths: tuple[str, ...] = ()) -> Statistics | None:
    """The newest record of a statistics.list answer (by createdAt), or None if it holds none."""
    if not isinstance(body, dict) or not isinstance(body.get("statistics"), list):
        raise ParseError("answer has no 'statistics' list")
    records = body["statistics"]
    if not all(isinstance(r, dict) for r in records):
        raise ParseError("a statistics record is not an object")
    if not records:
        return None
    newest = max(records, key=lambda r: timestamp(r.get("createdAt")) or -math.inf)
    return parse_statistics(newest, extra_paths)


@only_parse_errors
def parse_statistics(record: dict[str, Any], extra_paths: tuple[str, ...] = ()) -> Statistics:
    """One statistics record (IStats); every field is optional."""
    version = record.get("version")
    livechat = record.get("totalLivechat")
    if number(livechat) is None:
        livechat = record.get("totlalLivechat")  # servers up to 0.65 stored the typo
    return Statistics(
        version=sys.intern(clean(version[:64])) if isinstance(version, str) else None,
        created_at=timestamp(record.get("createdAt")),
        users=number(record.get("totalUsers")),
        active_users=number(record.get("activeUsers")),
        users_online=number(record.get("onlineUsers")),
        users_away=number(record.get("awayUsers")),
        users_busy=number(record.get("busyUsers")),
        users_offline=number(record.get("offlineUsers")),
        rooms=number(record.get("totalRooms")),
        rooms_channel=number(record.get("totalChannels")),
        rooms_private_group=number(record.get("totalPrivateGroups")),
        rooms_direct=number(record.get("totalDirect")),
        rooms_livechat=number(livechat),
        rooms_discussion=number(record.get("totalDiscussions")),
        messages=number(record.get("totalMessages")),
        messages_channel=number(record.get("totalChannelMessages")),
        messages_private_group=number(record.get("totalPrivateGroupMessages")),
        messages_direct=number(record.get("totalDirectMessages")),
        messages_livechat=number(record.get("totalLivechatMessages")),
        messages_discussion=number(record.get("totalDiscussionsMessages")),
        uploads=number(record.get("uploadsTotal")),
        uploads_size_bytes=number(record.get("uploadsTotalSize")),
        livechat_visitors=number(record.get("totalLivechatVisitors")),
        livechat_agents=number(record.get("totalLivechatAgents")),
        more=statfields.samples(record),
        deployment=statfields.deployment(record),
        extra=statfields.extra_fields(record, extra_paths),
        file_store=statfields.file_store(record),
    )


# what parse_statistics reads into Statistics' own fields: (path in the record, attribute);
# the statistics coverage test (statcoverage.py) counts these as exported
CORE_FIELDS = (
    ("totalUsers", "users"), ("activeUsers", "active_users"), ("onlineUsers", "users_online"),
    ("awayUsers", "users_away"), ("busyUsers", "users_busy"), ("offlineUsers", "users_offline"),
    ("totalRooms", "rooms"), ("totalChannels", "rooms_channel"),
    ("totalPrivateGroups", "rooms_private_group"), ("totalDirect", "rooms_direct"),
    ("totalLivechat", "rooms_livechat"), ("totalDiscussions", "rooms_discussion"),
    ("totalMessages", "messages"), ("totalChannelMessages", "messages_channel"),
    ("totalPrivateGroupMessages", "messages_private_group"),
    ("totalDirectMessages", "messages_direct"), ("totalLivechatMessages", "messages_livechat"),
    ("totalDiscussionsMessages", "messages_discussion"), ("uploadsTotal", "uploads"),
    ("uploadsTotalSize", "uploads_size_bytes"), ("totalLivechatVisitors", "livechat_visitors"),
    ("totalLivechatAgents", "livechat_agents"), ("createdAt", "created_at"),
)  # fmt: skip
