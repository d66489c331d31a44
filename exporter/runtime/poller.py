"""The schedule of every workspace's endpoints: phase, jitter, backoff and rate-limit windows.

Each endpoint of each workspace has its own schedule, so a slow or hanging workspace only
delays itself; polls of one endpoint never overlap because the next is timed only when the
previous one ended. Between polls an endpoint is a timer (loop.call_at), not a waiting task:
a task per endpoint would hold its frame and stack for the whole interval, in a large fleet the
largest part of the heap.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
import math
import random
import time
import urllib.parse
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from exporter.collecting.base import Fetch
from exporter.collecting.outcome import NeedsCore, NotAvailable, classify
from exporter.collecting.registry import COLLECTORS, REQUESTS, enabled, endpoints
from exporter.model.config import Config, WorkspaceConfig
from exporter.model.units import backoff
from exporter.rocketchat.client import FIRST_POLL, RocketChatClient
from exporter.rocketchat.errors import PollError
from exporter.rocketchat.transport import Sessions
from exporter.rocketchat.values import ParseError
from exporter.runtime.logbook import Logbook
from exporter.runtime.state import LOGIN, State, WorkspaceState

log = logging.getLogger("exporter.poller")

MAX_BACKOFF = 300.0
# a rate-limit pause lasts at most Rocket.Chat's default window, whatever X-RateLimit-Reset says
MAX_RATE_LIMIT_WAIT = 60.0


def add_workspace(state: State, workspace: WorkspaceConfig) -> WorkspaceState:
    """A fresh state entry for the workspace, with the endpoints of its enabled collectors."""
    names = tuple(c.name for c, _ in enabled(workspace))
    entry = state.add(workspace.name, *_endpoint_sets(names))
    entry.url = display_url(workspace.url)
    return entry


@functools.lru_cache(maxsize=64)
def _endpoint_sets(
    names: tuple[str, ...],
) -> tuple[tuple[str, ...], tuple[str, ...], tuple[tuple[str, tuple[str, ...]], ...]]:
    """Core endpoints, optional endpoints, and collectors with theirs: one set of tuples
    shared by every workspace with the same collectors (thousands, usually)."""
    chosen = [COLLECTORS[name] for name in names]
    return (
        tuple(e for c in chosen if not c.optional for e in c.endpoints),
        tuple(e for c in chosen if c.optional for e in c.endpoints),
        tuple((c.name, c.endpoints) for c in chosen),
    )


def new_state(config: Config) -> State:
    state = State([])
    for workspace in config.workspaces:
        add_workspace(state, workspace)
    return state


def display_url(url: str) -> str:
    """The workspace's URL without any user:password@ part."""
    parts = urllib.parse.urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return urllib.parse.urlunsplit(parts._replace(netloc=host))


@dataclass(slots=True)
class _Schedule:
    """Timing and rate-limit bookkeeping of one endpoint of one workspace."""

    interval: float = 0.0
    next_due: float = 0.0  # loop time of the next tick (the phase: ticks are interval apart)
    not_before: float = 0.0  # Unix seconds; no request before this
    backoff_steps: int = 0
    last_logged: str = ""
    noted: str = ""  # the last note of a successful answer that was logged
    timer: asyncio.TimerHandle | None = None  # the next poll, while none runs
    polled: bool = False  # its first poll has ended (see client.FIRST_POLL)
    retry: float = 0.0  # after a failure, the next try this much sooner (poll_interval)
    retrying: bool = False  # the running or next poll is such a retry, off the phase
    fire: Callable[[], None] | None = None  # what that timer calls (made once, see _prepare)


class Poller:
    """Polls the workspaces of a config; workspaces can be added and removed while running.

    The poller is the single owner of the per-workspace tasks: adding a workspace that is
    already polled replaces its tasks, and every write names the WorkspaceState its task was
    started for, so nothing of a removed or replaced workspace reaches the state."""

    def __init__(self, config: Config, state: State) -> None:
        self.config = config
        self.state = state
        self.clients: dict[str, RocketChatClient] = {}
        self.sessions: Sessions | None = None
        self.tasks: dict[str, set[asyncio.Task[None]]] = {}  # polls running now, by workspace
        self.owners: dict[str, WorkspaceState] = {}
        self.schedules: dict[tuple[str, str], _Schedule] = {}
        # the timers between polls (one per endpoint) call their schedule's `fire`, made once,
        # in one shared context, rather than with a new bound method, argument tuple and
        # context each: three objects fewer per timer for every garbage collection to walk
        self._context = contextvars.copy_context()
        self._gate: asyncio.Task[None] | None = None  # see start
        self.logbook = Logbook()

    async def open(self) -> None:
        self.sessions = Sessions(self.config.max_concurrency)
        for workspace in self.config.workspaces:
            self._prepare(workspace)

    def _prepare(self, workspace: WorkspaceConfig) -> None:
        assert self.sessions is not None
        owner = self.owners[workspace.name] = self.state.workspaces[workspace.name]
        self.clients[workspace.name] = RocketChatClient(
            self.sessions,
            workspace,
            self.config.max_response_bytes,
            on_login=functools.partial(self.state.record_login, workspace.name, owner=owner),
        )
        for endpoint, interval in endpoints(workspace):
            schedule = self.schedules[(workspace.name, endpoint)] = _Schedule(
                interval, retry=min(interval, workspace.poll_interval)
            )
            schedule.fire = functools.partial(
                self._spawn, workspace.name, endpoint, schedule, False
            )

    def start(self) -> None:
        """Start polling every endpoint of every workspace: the core endpoints at once
        (/ready), the optional ones after the fleet's first exposition, from one task (a task
        per workspace, all waking at once, would hold back /ready's answer)."""
        waiting: list[tuple[str, str, _Schedule]] = []
        for workspace in self.config.workspaces:
            waiting += self._start_core(workspace)
        if waiting:
            limit = 3 * max(w.timeout for w in self.config.workspaces) + 1
            self._gate = asyncio.create_task(
                self._release_optional(waiting, limit), name="optional endpoints' first polls"
            )

    def _start_core(self, workspace: WorkspaceConfig) -> list[tuple[str, str, _Schedule]]:
        """The core endpoints' first polls; the optional endpoints, to start later."""
        name = workspace.name
        self.tasks.setdefault(name, set())
        optional = []
        for endpoint, (collector, _) in REQUESTS.items():  # the schedules _prepare made
            schedule = self.schedules.get((name, endpoint))
            if schedule is None:
                continue
            if collector.optional:
                optional.append((name, endpoint, schedule))
            else:
                self._spawn(name, endpoint, schedule)
        return optional

    async def _release_optional(
        self, waiting: list[tuple[str, str, _Schedule]], limit: float
    ) -> None:
        """After the fleet's first exposition (at most `limit` seconds: a timeout per core
        endpoint and a login): the optional endpoints' first polls of the workspaces started
        with the poller (see _start_optional)."""
        await self.state.wait_first_exposition(limit)
        self._schedule_optional(waiting)

    def _run(self, name: str, coroutine: Coroutine[Any, Any, None], label: str) -> None:
        tasks = self.tasks[name]
        task = asyncio.create_task(coroutine, name=label)
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    def _spawn(self, name: str, endpoint: str, schedule: _Schedule, first: bool = True) -> None:
        """Run the endpoint's next poll as a task (its timer fired, or its first one)."""
        schedule.timer = None
        if name not in self.tasks or self.schedules.get((name, endpoint)) is not schedule:
            return  # removed or replaced since the timer was set
        self._run(name, self._tick(name, endpoint, schedule, first), f"poll {name} {endpoint}")

    async def _start_optional(self, name: str, optional: list[tuple[str, str, _Schedule]]) -> None:
        """For a workspace added later: after its core endpoints' first polls (a timeout
        each, and a login, at most), then the fleet's first exposition (/ready first)."""
        owner = self.owners.get(name)
        if owner is None:
            return
        limit = 3 * self.clients[name].workspace.timeout + 1
        await owner.wait_for_core(limit)
        await self.state.wait_first_exposition(limit)
        self._schedule_optional(optional)

    def _schedule_optional(self, optional: list[tuple[str, str, _Schedule]]) -> None:
        """The optional endpoints' first polls, spread over 3 ms per workspace of the fleet
        (at most a tenth of their interval), not all at once: every request of a large fleet
        queued at once holds memory for nothing. Skips what was removed or replaced."""
        loop = asyncio.get_running_loop()
        fleet = len(self.owners)
        for name, endpoint, schedule in optional:
            if self.schedules.get((name, endpoint)) is schedule and schedule.timer is None:
                spread = min(fleet * 0.003, schedule.interval / 10)
                schedule.timer = loop.call_later(
                    random.uniform(0, spread),
                    self._spawn,
                    name,
                    endpoint,
                    schedule,
                    context=self._context,
                )

    async def add(self, workspace: WorkspaceConfig) -> None:
        """Start polling a workspace (its state entry must exist); replaces earlier tasks."""
        await self.remove(workspace.name)
        self._prepare(workspace)
        if optional := self._start_core(workspace):
            label = "+".join(endpoint for _, endpoint, _ in optional)
            name = workspace.name
            self._run(name, self._start_optional(name, optional), f"poll {name} {label}")

    async def remove(self, name: str) -> None:
        """Stop polling a workspace and forget its client and schedules."""
        tasks = list(self.tasks.pop(name, ()))
        for endpoint in REQUESTS:  # not a scan of every schedule: O(fleet) at each removal
            schedule = self.schedules.pop((name, endpoint), None)
            if schedule is None:
                continue
            schedule.fire = None  # it refers to the schedule: no cycle left for the collector
            if schedule.timer is not None:
                schedule.timer.cancel()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self.clients.pop(name, None)
        self.owners.pop(name, None)
        self.logbook.forget(name)

    async def close(self) -> None:
        if self._gate is not None:
            self._gate.cancel()
        for name in list(self.tasks):
            await self.remove(name)
        if self.sessions is not None:
            await self.sessions.close()

    async def poll_all_once(self) -> None:
        """Poll every endpoint of every workspace once, concurrently (for --once): the core
        endpoints first, then the optional ones (health needs the instances)."""
        for optional in (False, True):
            await asyncio.gather(
                *(
                    self.poll(workspace.name, endpoint)
                    for workspace in self.config.workspaces
                    for endpoint, _ in endpoints(workspace)
                    if REQUESTS[endpoint][0].optional == optional
                )
            )

    async def _tick(self, name: str, endpoint: str, schedule: _Schedule, first: bool) -> None:
        """One poll, then the timer of the next. The first poll goes at once (readiness); the
        next ones at a random phase of the interval, so that polls of many workspaces spread
        evenly over it instead of landing together. A failed poll is tried again at the fast
        cadence (poll_interval), off the phase, until one succeeds: a fixed token or server is
        seen within a poll_interval, not a statistics_interval later."""
        loop = asyncio.get_running_loop()
        interval = schedule.interval
        if first:  # at once: the limiter (max_concurrency) spreads a fleet's first burst
            schedule.next_due = loop.time() + random.uniform(-interval / 2, interval / 2)
        await self.poll(name, endpoint)
        now = loop.time()
        if not schedule.retrying or schedule.next_due <= now:  # a tick of the phase
            schedule.next_due += interval
            if schedule.next_due < now:  # the poll overran: skip the missed ticks, keep phase
                schedule.next_due += math.ceil((now - schedule.next_due) / interval) * interval
        wait = schedule.next_due - now
        owner = self.owners.get(name)
        status = None if owner is None else owner.status.get(endpoint)
        schedule.retrying = status is not None and not status.ok and schedule.retry < wait
        if schedule.retrying:
            wait = schedule.retry
        wait = max(wait, schedule.not_before - time.time())
        if schedule.fire is None:  # removed meanwhile
            return
        if status is not None:
            status.next_poll = time.time() + wait
        schedule.timer = loop.call_at(now + wait, schedule.fire, context=self._context)

    async def poll(self, name: str, endpoint: str) -> None:
        """One poll of one endpoint: request, parse, record success or failure. Never raises:
        a bug fails this poll (its series go, the loop and the other workspaces go on)."""
        schedule = self.schedules.get((name, endpoint))
        owner = self.owners.get(name)
        if schedule is None or owner is None:  # removed meanwhile
            return
        started = time.time()
        t0 = time.perf_counter()
        try:
            await self._poll(name, endpoint, owner, schedule, started, t0)
        except Exception as exc:
            signature = f"internal:{type(exc).__name__}"
            # the traceback once per kind of bug, not at every interval
            log.log(
                logging.ERROR if schedule.last_logged != signature else logging.DEBUG,
                "workspace %s: %s: internal error, please report it",
                name,
                endpoint,
                exc_info=True,
            )
            error = PollError("invalid_response", f"internal error: {type(exc).__name__}")
            self._failed(name, endpoint, owner, error, started, time.perf_counter() - t0, schedule)
            schedule.last_logged = signature
        finally:
            schedule.polled = True

    async def _poll(
        self,
        name: str,
        endpoint: str,
        owner: WorkspaceState,
        schedule: _Schedule,
        started: float,
        t0: float,
    ) -> None:
        client = self.clients[name]
        FIRST_POLL.set(not schedule.polled)  # this poll's task only
        collector, request = REQUESTS[endpoint]
        response = None
        try:
            data: Any
            if request.fetch is not None:
                data = await request.fetch(Fetch(client, client.workspace, owner))
            else:
                params = dict(request.params()) if request.params else None
                response = await client.get(request.path, params)
                data = request.parse(response.body, self.config)
        except (PollError, NotAvailable, NeedsCore) as raised:
            outcome = classify(collector, request, raised, _core_failure(owner))
            if outcome.error is None:  # nothing to show, nothing wrong (e.g. not on this version)
                self.logbook.succeeded(name, endpoint)
                if schedule.last_logged != outcome.note:
                    log.info("workspace %s: %s: %s", name, endpoint, outcome.note)
                    schedule.last_logged = outcome.note
                self.state.record_success(
                    name, endpoint, None, started=started, owner=owner,
                    duration=time.perf_counter() - t0, note=outcome.note,
                )  # fmt: skip
                return
            self._failed(
                name, endpoint, owner, outcome.error, started, time.perf_counter() - t0, schedule
            )
            return
        except ParseError as exc:
            error = PollError(
                "invalid_response",
                f"{endpoint}: {exc}; is url a Rocket.Chat server (3.10 or later)?",
            )
            self._failed(name, endpoint, owner, error, started, time.perf_counter() - t0, schedule)
            return
        duration = time.perf_counter() - t0
        note = request.note(data) if request.note is not None else ""
        if note and note != schedule.noted:  # once, not at every poll
            log.info("workspace %s: %s: %s", name, endpoint, note)
        schedule.noted = note
        self.state.record_success(
            name, endpoint, data, started=started, duration=duration, owner=owner, note=note
        )
        schedule.backoff_steps = 0
        schedule.not_before = (
            0.0 if response is None else _paced(response.rate_remaining, response.rate_reset)
        )
        schedule.last_logged = ""
        self.logbook.succeeded(name, endpoint)

    def _failed(
        self,
        name: str,
        endpoint: str,
        owner: WorkspaceState,
        error: PollError,
        started: float,
        duration: float,
        schedule: _Schedule,
    ) -> None:
        count_under = {"request": endpoint, "login": LOGIN}.get(error.source)
        self.state.record_failure(
            name,
            endpoint,
            error.reason,
            error.message,
            started=started,
            duration=duration,
            count_under=count_under,
            owner=owner,
        )
        if error.reason == "rate_limited":
            if error.retry_at is not None:
                wait = min(max(error.retry_at - time.time(), 0.0), MAX_RATE_LIMIT_WAIT)
            else:
                schedule.backoff_steps += 1
                wait = backoff(schedule.backoff_steps, base=15.0, cap=MAX_BACKOFF)
            schedule.not_before = time.time() + wait + random.uniform(0, 1)
        else:
            schedule.backoff_steps = 0
            schedule.not_before = 0.0
        self.logbook.failed(name, endpoint, error.reason, error.message)


def _core_failure(workspace: WorkspaceState) -> tuple[str, str] | None:
    """(reason, message) of a core endpoint whose latest poll failed, None if none did."""
    failing = workspace.failing_core()
    if not failing:
        return None
    status = workspace.status[failing[0]]
    return status.last_reason, status.last_error


def _paced(remaining: int | None, reset_at: float | None) -> float:
    """Spread the remaining rate-limit budget until the window resets, before a 429 happens."""
    if remaining is None or reset_at is None:
        return 0.0
    window = min(reset_at - time.time(), MAX_RATE_LIMIT_WAIT)
    if window <= 0:
        return 0.0
    return time.time() + window / (remaining + 1)
