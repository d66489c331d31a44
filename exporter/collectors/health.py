"""One process's own health: GET /livez (7.11+, JSON) or GET /health (5.3-7.10, text), asked
of every instance at its own address from instances.get (behind a load balancer the answer
would be a random process's). Never /readyz, and at most every 30 s: some releases reset the
event-loop histogram the orchestrator's probes read at each call. No credentials are sent."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from exporter.collecting.base import (
    Collected,
    Collector,
    Family,
    Fetch,
    Key,
    Option,
    Out,
    Report,
    Request,
)
from exporter.collecting.expfmt import fmt, instance_labels
from exporter.collecting.fence import address_option, all_within, networks_option, reach
from exporter.collecting.outcome import NeedsCore, NotAvailable
from exporter.collectors.instances import ANSWER as INSTANCES
from exporter.collectors.instances import INSTANCE, Instance
from exporter.rocketchat.errors import PollError
from exporter.rocketchat.transport import Target
from exporter.rocketchat.values import ParseError, number, only_parse_errors

_PERCENT = re.compile(r"\s*([0-9.]+)\s*%\s*")
_MILLIS = re.compile(r"\s*([0-9.]+)\s*ms\b.*")


@dataclass(frozen=True, slots=True)
class Health:
    healthy: bool
    heap_ratio: float | None = None  # 0..1
    event_loop_lag_seconds: float | None = None
    database_healthy: bool | None = None  # None: the answer has no mongo check


def _ratio(memory: dict[str, Any]) -> float | None:
    """`percentile` is a percentage despite its name; `usage` is text like "45.67%"."""
    value = number(memory.get("percentile"))
    if value is None and isinstance(memory.get("usage"), str):
        match = _PERCENT.fullmatch(memory["usage"][:32])
        value = number(match.group(1)) if match else None
    return None if value is None or not 0 <= value <= 1000 else value / 100


def _lag(loop: dict[str, Any]) -> float | None:
    """`lagMs` a number, or `lag` text like "12.34ms (p99)"."""
    value = number(loop.get("lagMs"))
    if value is None and isinstance(loop.get("lag"), str):
        match = _MILLIS.fullmatch(loop["lag"][:64])
        value = number(match.group(1)) if match else None
    return None if value is None or value < 0 else value / 1000


@only_parse_errors
def parse_livez(body: Any) -> Health:
    """The /livez JSON (200 or 503: both are answers, the status says which)."""
    if not isinstance(body, dict) or body.get("status") not in ("ok", "unavailable"):
        raise ParseError("answer has no status ok/unavailable")
    raw_checks = body.get("checks")
    checks: dict[str, Any] = raw_checks if isinstance(raw_checks, dict) else {}
    memory, loop, mongo = (checks.get(k) for k in ("memory", "eventLoop", "mongo"))
    return Health(
        healthy=body["status"] == "ok",
        heap_ratio=_ratio(memory) if isinstance(memory, dict) else None,
        event_loop_lag_seconds=_lag(loop) if isinstance(loop, dict) else None,
        database_healthy=mongo.get("status") == "ok" if isinstance(mongo, dict) else None,
    )


def parse_health_text(status: int, text: str) -> Health:
    """/health before 7.11: 200 `ok`, or 500 `not healthy` (realtime data stopped). Anything
    else — a servers before 5.3 answers 200 with the web client's HTML — is not a health answer."""
    body = text.strip()
    if status == 200 and body == "ok":
        return Health(healthy=True)
    if status == 500 and body == "not healthy":
        return Health(healthy=False)
    raise ParseError(f"not a /health answer (HTTP {status})")


HEALTHY = "rocketchat_instance_healthy"
HEAP = "rocketchat_instance_heap_usage_ratio"
LAG = "rocketchat_instance_event_loop_lag_seconds"
DATABASE = "rocketchat_instance_database_healthy"
NO_ROUTE = "no /livez or /health on this version"

FAMILIES = (
    Family(
        HEALTHY,
        "gauge",
        "1 if the instance's own /livez (7.11+) or /health (5.3-7.10) says healthy; 0 when it "
        "says not (e.g. realtime data stopped) or does not answer.",
        INSTANCE,
    ),
    Family(HEAP, "gauge", "Heap in use / heap limit of the instance's process (/livez).", INSTANCE),
    Family(
        LAG, "gauge", "Event-loop lag of the instance's process (/livez), in seconds.", INSTANCE
    ),
    Family(
        DATABASE,
        "gauge",
        "1 if the instance reaches its database (/livez mongo check), else 0.",
        INSTANCE,
    ),
)


@dataclass(frozen=True, slots=True)
class InstanceHealth:
    instance_id: str
    health: Health | None  # None: the instance has no health route (before 5.3)
    error: str = ""  # why it counts as unhealthy without having said so


def _paths(version: str | None, readyz: bool = False) -> tuple[str, ...]:
    """/livez from 7.11 (/health there is a stub), /health before; both when unknown. With
    `readyz`, /readyz instead of /livez: where a release moved the checks (memory, event loop,
    database) out of /livez, only /readyz still has them."""
    live = "/readyz" if readyz else "/livez"
    try:
        major, minor = (int(p) for p in (version or "").split(".")[:2])
    except ValueError:
        return (live, "/health")
    return (live,) if (major, minor) >= (7, 11) else ("/health",)


async def _one(ctx: Fetch, target: Target, paths: tuple[str, ...]) -> Health | None:
    """One instance: its answer, Health(False) when it says so; PollError when it does not
    answer; None when it has no health route."""
    for path in paths:
        status, raw = await ctx.client.probe(target, path)
        if status == 404:
            continue
        text = raw.decode("utf-8", "replace")
        try:
            if path in ("/livez", "/readyz"):
                return parse_livez(json.loads(text))
            return parse_health_text(status, text)
        except (ValueError, RecursionError):
            if status >= 500:
                return Health(healthy=False)
            continue  # HTML of the web client (before 5.3): no health route
    return None


async def fetch(ctx: Fetch) -> tuple[InstanceHealth, ...]:
    """Every instance of the latest instances.get answer, concurrently."""
    instances = ctx.state.get(INSTANCES)
    if instances is None:  # the core's verdict, or a wait for its first answer (outcome.py)
        raise NeedsCore("no instances.get answer to check")
    paths = _paths(ctx.state.running_version, ctx.workspace.setting(READYZ))

    async def check(instance_id: str, host: str, port: str) -> InstanceHealth:
        workspace = ctx.workspace
        target = await reach(workspace.setting(ADDRESS), host, port, workspace.setting(NETWORKS))
        if isinstance(target, str):
            return InstanceHealth(instance_id, None, target)  # unknown, not unhealthy
        try:
            return InstanceHealth(instance_id, await _one(ctx, target, paths))
        except PollError as exc:
            return InstanceHealth(instance_id, Health(healthy=False), exc.message)

    # those not done within the timeout are unhealthy, like those that did not answer
    done = await all_within(
        ctx.workspace.timeout, [check(i.instance_id, i.host, i.port) for i in instances]
    )
    late = f"no answer within {ctx.workspace.timeout:g}s"
    results = [
        found
        if found is not None
        else InstanceHealth(instance.instance_id, Health(healthy=False), late)
        for found, instance in zip(done, instances, strict=True)
    ]
    if results and all(r.health is None and not r.error for r in results):
        raise NotAvailable(NO_ROUTE)
    return tuple(results)


def by_instance(workspace: Collected) -> Iterator[tuple[Instance, Health]]:
    """Each instance of the current instances.get answer with its latest health answer (no
    ghosts of vanished instances): what is rendered, and what the alert checks read."""
    checked = workspace.get(RESULTS)
    instances = workspace.get(INSTANCES)
    if not checked or instances is None:
        return
    by_id = {r.instance_id: r.health for r in checked}
    for instance in instances:
        health = by_id.get(instance.instance_id)
        if health is not None:
            yield instance, health


def render(ws_label: str, workspace: Collected, out: Out) -> None:
    for instance, health in by_instance(workspace):
        labels = instance_labels(ws_label, instance.instance_id, instance.host, instance.port)
        for family, value in (
            (HEALTHY, float(health.healthy)),
            (HEAP, health.heap_ratio),
            (LAG, health.event_loop_lag_seconds),
            (DATABASE, None if health.database_healthy is None else float(health.database_healthy)),
        ):
            if value is not None:
                out[family].append(f"{family}{{{labels}}} {fmt(value)}\n")


RESULTS: Key[tuple[InstanceHealth, ...]] = Key("health")

# its settings: where each instance is asked, where it may be, and /readyz instead of /livez
READYZ_MIN_INTERVAL = 60.0  # seconds between two /readyz calls to an instance, at least
ADDRESS = address_option("health")
NETWORKS = networks_option("health")


def _read_flag(value: Any, report: Report) -> bool | None:
    if not isinstance(value, bool):
        report("readyz", "must be true or false")
        return None
    return value


READYZ: Option[bool] = Option("health", "readyz", False, _read_flag)


def _check(
    enabled: bool, interval: float | None, setting: Callable[[Option[Any]], Any], report: Report
) -> None:
    if setting(READYZ) and interval is not None and interval < READYZ_MIN_INTERVAL:
        report(
            "interval",
            f"must be at least {READYZ_MIN_INTERVAL:g}s with readyz (each /readyz "
            "call resets the event-loop histogram the orchestrator's probes read)",
        )


COLLECTOR = Collector(
    name="health",
    summary="each instance's own /livez or /health, at its address from instances.get",
    requests=(
        Request(
            RESULTS,
            "/livez (7.11+) or /health (5.3-7.10) at each instance",
            lambda body, config: None,  # never a plain GET: see fetch
            fetch=fetch,
        ),
    ),
    interval=lambda workspace: max(
        workspace.poll_interval, READYZ_MIN_INTERVAL if workspace.setting(READYZ) else 30.0
    ),
    interval_doc="poll_interval, at least 30s (60s with readyz)",
    families=FAMILIES,
    rank=50,
    render=render,
    reads=(INSTANCES,),
    options=(ADDRESS, NETWORKS, READYZ),
    check=_check,
    min_interval=30.0,
    permission="none (unauthenticated; the exporter must reach each instance's host:port)",
    versions="5.3+",
)
