"""What the status pages say of one workspace: its state, its instances, and the alerts whose
condition holds now (the alerts table's own checks, so page and rules use one vocabulary)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from exporter.alerts.catalogue import BY_NAME, Finding, holding
from exporter.collectors import instances
from exporter.runtime.state import State, WorkspaceState

# the fleet page's filters: a state, "unreported", or an alert's name
STATES = {
    "": "all",
    "down": "down",
    "pending": "not polled yet",
    "alerting": "with an alert condition",
    "unreported": "links not reported",
    "up": "up",
    **{name: f"alert: {alert.title}" for name, alert in BY_NAME.items()},
}
# the filters of earlier versions, kept working for bookmarks
ALIASES = {
    "disconnected": "RocketChatInstanceDisconnected",
    "stale": "RocketChatStatisticsStale",
    "collector": "RocketChatCollectorFailing",
}


def wanted_filter(raw: str) -> str:
    """A ?state= value made one of STATES ("" for anything else)."""
    raw = ALIASES.get(raw, raw)
    return raw if raw in STATES else ""


@dataclass(frozen=True)
class Verdict:
    """What the overview needs to know about one workspace."""

    state: str  # up, down, pending
    unreported: bool
    connected: int
    instances: int
    failing: tuple[str, ...]  # core endpoints whose latest poll failed
    findings: tuple[Finding, ...] = ()  # the alerts whose condition holds now

    @property
    def rank(self) -> int:
        """Down first, then critical alert conditions, then warnings."""
        if self.state == "down":
            return 0
        severities = {alert.severity for alert, _ in self.findings}
        if "critical" in severities:
            return 1
        if severities:
            return 2
        return 3 if self.state == "pending" else 4

    def subjects(self, name: str) -> tuple[str, ...]:
        """What the alert `name` holds for now; () when it does not hold."""
        return next((subjects for alert, subjects in self.findings if alert.name == name), ())

    def holds(self, name: str) -> bool:
        return bool(self.subjects(name))

    def matches(self, wanted: str) -> bool:
        return (
            not wanted
            or wanted == self.state
            or (wanted == "alerting" and bool(self.findings))
            or (wanted == "unreported" and self.unreported)
            or self.holds(wanted)
        )


def health(workspace: WorkspaceState, now: float) -> Verdict:
    up = workspace.up
    answer = instances.latest(workspace)
    items = answer.items if answer is not None else ()
    return Verdict(
        state={True: "up", False: "down", None: "pending"}[up],
        unreported=answer is not None and not answer.links_reported,
        connected=sum(1 for i in items if i.connected),
        instances=len(items),
        failing=workspace.failing_core(),
        findings=holding(workspace, now),
    )


Judged = list[tuple[str, WorkspaceState, Verdict]]


def judge(state: State, now: float) -> Judged:
    """Every workspace with its verdict (see judge_async for a large fleet)."""
    return [(name, w, health(w, now)) for name, w in state.workspaces.items()]


async def judge_async(state: State, now: float, batch: int = 500) -> Judged:
    """judge, yielding to the event loop every `batch` workspaces: a scrape never waits for
    the verdicts of a whole large fleet."""
    judged: Judged = []
    for index, (name, workspace) in enumerate(list(state.workspaces.items())):
        judged.append((name, workspace, health(workspace, now)))
        if index % batch == batch - 1:
            await asyncio.sleep(0)
    return judged
