"""The latest good data per workspace and endpoint, and the poll bookkeeping around it.

A failed poll drops that endpoint's data at once (no stale values); the self-metrics stay.
Every change bumps a version so the renderer knows what to re-render. The data is kept by
endpoint and read back through the collectors' typed keys: nothing here knows a collector.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

from exporter.collecting.base import Key
from exporter.collecting.registry import COLLECTORS, REQUESTS, running_version

T = TypeVar("T")
LOGIN = "login"


@dataclass(slots=True)
class EndpointStatus:
    """Bookkeeping of one endpoint of one workspace."""

    attempted: bool = False
    ok: bool = False
    last_poll_end: float | None = None  # Unix seconds
    duration_seconds: float | None = None
    last_success: float | None = None  # Unix seconds
    last_error: str = ""
    last_reason: str = ""
    note: str = ""  # e.g. an optional endpoint "not available on this version"
    next_poll: float | None = None  # Unix seconds: when the poller tries it next (pages)


@dataclass(slots=True)  # one per workspace: no instance dict
class WorkspaceState:
    name: str
    endpoints: tuple[str, ...]  # the endpoints of the core collectors (rocketchat_up)
    status: dict[str, EndpointStatus] = field(default_factory=dict)
    errors: Counter[tuple[str, str]] = field(default_factory=Counter)  # (endpoint, reason)
    version: int = 0
    url: str = ""  # the Rocket.Chat address, for the status pages (never with credentials)
    optional: tuple[str, ...] = ()  # the endpoints of the enabled optional collectors
    # endpoint -> its latest good data (read through a Key: get); gone when a poll fails
    data: dict[str, object] = field(default_factory=dict)
    # endpoint -> what its request keeps across failures (Request.remember), if anything
    memory: dict[str, object] = field(default_factory=dict)
    # every enabled collector, core and optional, with its endpoints (collector_success)
    collectors: tuple[tuple[str, tuple[str, ...]], ...] = ()
    # see core_polled: made only while someone waits (an Event per workspace adds up)
    _core_polled: asyncio.Event | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        for endpoint in (*self.endpoints, *self.optional, LOGIN):
            self.status.setdefault(endpoint, EndpointStatus())
        if not self.collectors:  # a state built by hand (tests): their enabled collectors
            present = {*self.endpoints, *self.optional}
            self.collectors = tuple(
                (c.name, c.endpoints) for c in COLLECTORS.values() if present & set(c.endpoints)
            )

    def get(self, key: Key[T]) -> T | None:
        """The latest good data of the key's request (None: failing, not polled, or none)."""
        # the one cast: record_success stored what the request under this key parsed to a T
        return cast("T | None", self.data.get(key.endpoint))

    def remembered(self, key: Key[T]) -> Any:
        """What the key's request keeps across failures (see Request.remember)."""
        return self.memory.get(key.endpoint)

    @property
    def up(self) -> bool | None:
        """True if the latest poll of every core endpoint succeeded; None before any ran."""
        polled = [self.status[e] for e in self.endpoints if self.status[e].attempted]
        if any(not s.ok for s in polled):
            return False
        if len(polled) < len(self.endpoints):
            return None
        return True

    async def wait_for_core(self, limit: float) -> None:
        """Until the core endpoints' first polls ended (at most `limit` seconds): the optional
        collectors start after them, so the first round (and /ready) is not slowed by them,
        and health knows the instances and the version."""
        if not self.attempted_core:
            await wait_at_most(self.core_polled, limit)

    @property
    def core_polled(self) -> asyncio.Event:
        """Set once every core endpoint has had its first poll: the optional collectors start
        then. Made when first asked for, and let go once set (its waiters hold it)."""
        if self._core_polled is None:
            self._core_polled = asyncio.Event()
            if self.attempted_core:
                self._core_polled.set()
        return self._core_polled

    def note_core_polled(self) -> None:
        """After a poll: wake whoever waits for the first core polls."""
        if self._core_polled is not None and self.attempted_core:
            self._core_polled.set()
            self._core_polled = None

    def failing_core(self) -> tuple[str, ...]:
        """The core endpoints whose latest poll failed."""
        return tuple(
            e for e in self.endpoints if self.status[e].attempted and not self.status[e].ok
        )

    def collector_success(self) -> list[tuple[str, bool]]:
        """(collector, ok) for each enabled collector whose endpoints have all been polled."""
        result = []
        for name, endpoints in self.collectors:
            statuses = [self.status[e] for e in endpoints]
            if all(s.attempted for s in statuses):
                result.append((name, all(s.ok for s in statuses)))
        return result

    @property
    def running_version(self) -> str | None:
        """The version the workspace runs, as the collectors that can tell it say (/api/info's
        full version, live, else the newest statistics record's)."""
        return running_version(self)

    @property
    def attempted_core(self) -> bool:
        """Every core endpoint has had its first poll (for /ready; the optional collectors
        never change rocketchat_up and do not hold readiness back either)."""
        return all(self.status[e].attempted for e in self.endpoints)


class State:
    """All workspaces; `generation` changes whenever anything in any workspace changes, and
    `changed` is set then (the publisher waits on it instead of polling).

    Writers pass the WorkspaceState they were started for as `owner`: a poller of a workspace
    that was removed or replaced since (a reload) then writes nothing."""

    def __init__(self, workspaces: list[tuple[str, tuple[str, ...]]]) -> None:
        self.workspaces: dict[str, WorkspaceState] = {}
        self._unready: set[str] = set()  # workspaces whose first poll of some endpoint is due
        self.generation = 0
        self.changed = asyncio.Event()
        # set by the publisher once /metrics serves every workspace's first core poll (/ready)
        self.first_exposition = asyncio.Event()
        self.auth_failures: int | None = None  # None: basic auth of /metrics is off
        # reloads refused (the running config kept), by file: "config" and "web_config"
        self.reload_failures: Counter[str] = Counter({"config": 0, "web_config": 0})
        for name, endpoints in workspaces:
            self.add(name, endpoints)

    def _bump(self) -> None:
        self.generation += 1
        self.changed.set()

    def add(
        self,
        name: str,
        endpoints: tuple[str, ...],
        optional: tuple[str, ...] = (),
        collectors: tuple[tuple[str, tuple[str, ...]], ...] = (),
    ) -> WorkspaceState:
        """A new (or restarted) workspace: fresh data and counters."""
        workspace = self.workspaces[name] = WorkspaceState(
            name, endpoints, optional=optional, collectors=collectors
        )
        if not workspace.attempted_core:
            self._unready.add(name)
        self._bump()
        return workspace

    def remove(self, name: str) -> None:
        """A workspace no longer configured: all its series go."""
        self._unready.discard(name)
        if self.workspaces.pop(name, None) is not None:
            self._bump()

    def record_auth_failure(self) -> None:
        self.auth_failures = (self.auth_failures or 0) + 1
        self._bump()

    def record_reload_failure(self, config: str) -> None:
        """A reload of `config` ("config" or "web_config") refused: the running one stays."""
        self.reload_failures[config] += 1
        self._bump()

    def _owned(self, name: str, owner: WorkspaceState | None) -> WorkspaceState | None:
        """The workspace to write to; None when the writer's workspace is gone or replaced."""
        workspace = self.workspaces.get(name)
        if workspace is None or (owner is not None and workspace is not owner):
            return None
        return workspace

    def _touch(self, workspace: WorkspaceState) -> None:
        workspace.version += 1
        if workspace.name in self._unready and workspace.attempted_core:
            self._unready.discard(workspace.name)
        workspace.note_core_polled()
        self._bump()

    def record_success(
        self,
        name: str,
        endpoint: str,
        data: Any,
        *,
        started: float,
        duration: float,
        owner: WorkspaceState | None = None,
        note: str = "",
    ) -> None:
        workspace = self._owned(name, owner)
        if workspace is None:
            return
        workspace.data[endpoint] = data
        remember = REQUESTS[endpoint][1].remember
        if remember is not None and data is not None:
            workspace.memory[endpoint] = remember(workspace.memory.get(endpoint), data, started)
        status = workspace.status[endpoint]
        status.attempted = status.ok = True
        status.duration_seconds = round(duration, 6)
        status.last_poll_end = status.last_success = started + duration
        status.last_error = status.last_reason = ""
        status.note = note
        self._touch(workspace)

    def record_failure(
        self,
        name: str,
        endpoint: str,
        reason: str,
        message: str,
        *,
        started: float,
        duration: float,
        count_under: str | None,
        owner: WorkspaceState | None = None,
    ) -> None:
        """A failed poll: drop the endpoint's data; count the error under `count_under`."""
        workspace = self._owned(name, owner)
        if workspace is None:
            return
        workspace.data.pop(endpoint, None)
        status = workspace.status[endpoint]
        status.attempted = True
        status.ok = False
        status.duration_seconds = round(duration, 6)
        status.last_poll_end = started + duration
        status.last_error = message
        status.last_reason = reason
        if count_under is not None:
            workspace.errors[(count_under, reason)] += 1
        self._touch(workspace)

    def record_login(
        self,
        name: str,
        ok: bool,
        started: float,
        duration: float,
        owner: WorkspaceState | None = None,
    ) -> None:
        """Bookkeeping of a login attempt (its errors are counted by record_failure)."""
        workspace = self._owned(name, owner)
        if workspace is None:
            return
        status = workspace.status[LOGIN]
        status.attempted = True
        status.ok = ok
        status.duration_seconds = round(duration, 6)
        status.last_poll_end = started + duration
        if ok:
            status.last_success = started + duration
        self._touch(workspace)

    async def wait_first_exposition(self, limit: float) -> None:
        """Until /ready (at most `limit` seconds): the optional collectors start then, so that
        the core round and its first render do not share the machine with three more
        requests per workspace."""
        await wait_at_most(self.first_exposition, limit)

    @property
    def ready(self) -> bool:
        """Every workspace has had its first poll of every core endpoint (kept up
        incrementally: the publisher asks at every change)."""
        return not self._unready


async def wait_at_most(event: asyncio.Event, limit: float) -> None:
    """Until `event` is set, or `limit` seconds. asyncio.timeout, not wait_for: in 3.11
    wait_for can swallow a cancellation that arrives as the event is set."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(limit):
            await event.wait()
