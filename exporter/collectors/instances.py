"""Core: GET /api/v1/instances.get every poll_interval. Every server process of the workspace:
the two answer shapes parsed into records (pure), their families, their rendering, and the
memory of the instances listed (the vanished alert)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from exporter.collecting.base import Collected, Collector, Family, Key, Out, Request
from exporter.collecting.expfmt import escape, fmt, instance_labels
from exporter.model.config import Config
from exporter.rocketchat.values import (
    ParseError,
    Unboxed,
    boolean,
    boxed,
    clean,
    mapping,
    number,
    only_parse_errors,
    shared,
    text,
    timestamp,
    unboxed,
)

PATH = "/api/v1/instances.get"

# Real clusters run a handful of instances, large ones a few dozen: an answer listing more is
# hostile or broken, and would flood Prometheus with series.
MAX_INSTANCES = 1000


# the numeric fields of a record, in the order Instance keeps them
NUMBERS = (
    "cpus",
    "memory_total_bytes",
    "memory_free_bytes",
    "load1",
    "load5",
    "load15",
    "host_uptime_seconds",
    "connections",
    "start_time_seconds",
    "last_heartbeat_seconds",
)


def _number(index: int) -> property:
    def read(self: Instance) -> float | None:
        return boxed(self.numbers[index])

    return property(read, doc=f"{NUMBERS[index]} (None: the record had none)")


# not frozen: a frozen dataclass's __init__ sets each field through object.__setattr__, several
# times slower, and records are made at every poll; they are never changed once parsed
@dataclass(slots=True)
class Instance:
    """One record of instances.get, whichever shape it came in.

    Its numbers are kept unboxed in one array (NUMBERS order, NaN: absent), not as ten float
    objects: ~8 MiB less at 10 000 workspaces of five instances, read through the properties.
    """

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
    numbers: Unboxed

    cpus = _number(0)
    memory_total_bytes = _number(1)
    memory_free_bytes = _number(2)
    load1 = _number(3)
    load5 = _number(4)
    load15 = _number(5)
    host_uptime_seconds = _number(6)
    connections = _number(7)
    start_time_seconds = _number(8)
    last_heartbeat_seconds = _number(9)


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


def _instance(record: dict[str, Any], address: str, connected: bool | None) -> Instance:
    record_id = record.get("_id")
    if not isinstance(record_id, str) or not record_id:
        raise ParseError("an instance record has no string _id")
    extra = mapping(record.get("extraInformation"))
    os_info = mapping(extra.get("os"))
    loadavg = os_info.get("loadavg")
    loads: list[Any] = list(loadavg[:3]) if isinstance(loadavg, list) else []
    loads += [None] * (3 - len(loads))
    host = text(extra.get("host"))
    return Instance(
        clean(record_id[:128]),
        host,
        shared(extra.get("port")),
        shared(record.get("name")),
        host if address == host else address,  # usually the same text: one string for both
        shared(extra.get("nodeVersion")),
        shared(record.get("pid")),  # short, and often the same ("1" in containers)
        shared(os_info.get("type")),
        shared(os_info.get("platform")),
        shared(os_info.get("arch")),
        shared(os_info.get("release")),
        connected,
        unboxed(
            (
                number(os_info.get("cpus")),
                number(os_info.get("totalmem")),
                number(os_info.get("freemem")),
                *(number(load) for load in loads[:3]),
                number(os_info.get("uptime")),
                number(extra.get("conns")),
                timestamp(record.get("_createdAt")),
                timestamp(record.get("_updatedAt")),
            )
        ),
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


INSTANCE = ("workspace", "instance_id", "host", "port")


def _families() -> tuple[Family, ...]:
    g = "gauge"
    raw = [
        ("rocketchat_instances", g, "Number of records in the latest instances.get answer."),
        (
            "rocketchat_workspace_links_reported",
            g,
            "1 if the latest instances.get answer reported intra-cluster links (shape A, or "
            "shape B with a local item); 0: Community Edition or microservices, where "
            "rocketchat_instance_connected is unknown and therefore absent.",
        ),
        (
            "rocketchat_instance_info",
            g,
            "Rocket.Chat server process registered in the instances "
            "collection (labels from the record; address as seen by the answering instance).",
        ),
        (
            "rocketchat_instance_connected",
            g,
            "1 if the answering instance holds a live intra-cluster link to this instance "
            "(currentStatus.connected; 1 for the answering instance); absent when the server "
            "does not report links (rocketchat_workspace_links_reported 0).",
        ),
        (
            "rocketchat_instance_cpus",
            g,
            "CPU count of the instance's host (os.cpus, captured when the instance registered).",
        ),
        (
            "rocketchat_instance_memory_total_bytes",
            g,
            "Total memory of the instance's host "
            "(os.totalmem, captured when the instance registered).",
        ),
        (
            "rocketchat_instance_memory_free_bytes",
            g,
            "Free memory of the instance's host "
            "(os.freemem, captured when the instance registered, not live).",
        ),
        (
            "rocketchat_instance_load1",
            g,
            "1-minute load average of the instance's host "
            "(os.loadavg[0], captured when the instance registered, not live).",
        ),
        (
            "rocketchat_instance_load5",
            g,
            "5-minute load average of the instance's host "
            "(os.loadavg[1], captured when the instance registered, not live).",
        ),
        (
            "rocketchat_instance_load15",
            g,
            "15-minute load average of the instance's host "
            "(os.loadavg[2], captured when the instance registered, not live).",
        ),
        (
            "rocketchat_instance_host_uptime_seconds",
            g,
            "Uptime of the instance's host (os.uptime, captured when the instance registered).",
        ),
        (
            "rocketchat_instance_connections",
            g,
            "Open DDP/websocket sessions on the instance "
            "(extraInformation.conns, updated by the server at most every 30 s).",
        ),
        (
            "rocketchat_instance_start_time_seconds",
            g,
            "When the instance registered, i.e. its process start (_createdAt), as Unix time.",
        ),
        (
            "rocketchat_instance_last_heartbeat_timestamp_seconds",
            g,
            "Last heartbeat of the "
            "instance record (_updatedAt, refreshed every 10 s by a live instance), as Unix time.",
        ),
    ]
    labels = {
        "rocketchat_instances": ("workspace",),
        "rocketchat_workspace_links_reported": ("workspace",),
        "rocketchat_instance_info": (
            *INSTANCE, "name", "address", "node_version", "pid",
            "os_type", "os_platform", "os_arch", "os_release",
        ),
    }  # fmt: skip
    return tuple(Family(name, kind, help_, labels.get(name, INSTANCE)) for name, kind, help_ in raw)


FAMILIES = _families()

# the family of each of an Instance's numbers (NUMBERS order)
INSTANCE_GAUGES = (
    "rocketchat_instance_cpus",
    "rocketchat_instance_memory_total_bytes",
    "rocketchat_instance_memory_free_bytes",
    "rocketchat_instance_load1",
    "rocketchat_instance_load5",
    "rocketchat_instance_load15",
    "rocketchat_instance_host_uptime_seconds",
    "rocketchat_instance_connections",
    "rocketchat_instance_start_time_seconds",
    "rocketchat_instance_last_heartbeat_timestamp_seconds",
)


def _instance_lines(ws_label: str, instance: Instance, out: Out) -> None:
    labels = instance_labels(ws_label, instance.instance_id, instance.host, instance.port)
    info = (
        f'{labels},name="{escape(instance.name)}",address="{escape(instance.address)}",'
        f'node_version="{escape(instance.node_version)}",pid="{escape(instance.pid)}",'
        f'os_type="{escape(instance.os_type)}",os_platform="{escape(instance.os_platform)}",'
        f'os_arch="{escape(instance.os_arch)}",os_release="{escape(instance.os_release)}"'
    )
    out["rocketchat_instance_info"].append(f"rocketchat_instance_info{{{info}}} 1\n")
    if instance.connected is not None:
        value = "1" if instance.connected else "0"
        out["rocketchat_instance_connected"].append(
            f"rocketchat_instance_connected{{{labels}}} {value}\n"
        )
    for family, sample in zip(INSTANCE_GAUGES, instance.numbers, strict=True):
        if sample == sample:  # not NaN (absent)
            out[family].append(f"{family}{{{labels}}} {fmt(sample)}\n")


def render(ws_label: str, workspace: Collected, out: Out) -> None:
    """The instances.get part of a workspace's samples, by family."""
    instances = workspace.get(ANSWER)
    if instances is None:
        return
    out["rocketchat_instances"].append(f"rocketchat_instances{{{ws_label}}} {len(instances)}\n")
    out["rocketchat_workspace_links_reported"].append(
        f"rocketchat_workspace_links_reported{{{ws_label}}} {int(instances.links_reported)}\n"
    )
    for instance in instances:
        _instance_lines(ws_label, instance, out)


VANISHED_MEMORY = 3600.0  # seconds an instance gone from the answers is remembered


@dataclass(frozen=True, slots=True)
class Listed:
    """What the workspace remembers across failures: the latest good answer, and when each
    host:port gone from the answers since was last listed (None until something vanishes)."""

    answer: InstancesAnswer
    vanished: dict[str, float] | None = None


def _remember(previous: Listed | None, answer: InstancesAnswer, now: float) -> Listed:
    """Each host:port the previous good answer listed and this one does not (a restart keeps
    its host:port and is not counted), kept for an hour."""
    listed = {f"{i.host}:{i.port}" for i in answer}
    gone = (
        {f"{i.host}:{i.port}" for i in previous.answer} - listed if previous is not None else set()
    )
    before = previous.vanished if previous is not None else None
    if not gone and not before:
        return Listed(answer)
    kept = {
        hp: seen
        for hp, seen in (before or {}).items()
        if hp not in listed and now - seen < VANISHED_MEMORY
    }
    kept.update(dict.fromkeys(gone, now))
    return Listed(answer, kept or None)


def latest(workspace: Collected) -> InstancesAnswer | None:
    """The latest good instances.get answer (None while failing or before the first)."""
    return workspace.get(ANSWER)


def vanished(workspace: Collected) -> dict[str, float]:
    """host:port -> when last listed, for each instance gone from the answers in the last hour."""
    memory: Listed | None = workspace.remembered(ANSWER)
    return (memory.vanished or {}) if memory is not None else {}


def _parse(body: Any, config: Config) -> InstancesAnswer:
    return parse_instances(body)


ANSWER: Key[InstancesAnswer] = Key("instances.get")

COLLECTOR = Collector(
    name="instances",
    summary="every server process of the workspace, its host and its cluster links",
    requests=(Request(ANSWER, PATH, _parse, remember=_remember),),
    interval=lambda workspace: workspace.poll_interval,
    interval_doc="poll_interval",
    families=FAMILIES,
    rank=10,
    render=render,
    optional=False,
    default_enabled=True,
    permission="view-statistics",
    versions="3.10+",
)
