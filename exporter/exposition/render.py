"""The exposition cache: state -> Prometheus text (format 0.0.4), re-rendered only where needed.

Each workspace's samples are rendered (encoder.py) into per-family fragments only when its data
changed; the fragments are joined family by family (the text format needs each family grouped
under one HELP/TYPE header, see collectors/registry.py for the order) and the result is cached
until the next change.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from exporter.collectors.records import InstancesAnswer, Statistics
from exporter.exposition.encoder import (
    EMPTY,
    FamilyJoiner,
    Fragment,
    Part,
    exporter_families,
    join_families,
    render_bookkeeping,
    render_instances,
    render_statistics,
)
from exporter.runtime.state import State, WorkspaceState


@dataclass(slots=True)
class _DataParts:
    """A workspace's rendered data, kept while the parsed objects they came from are current."""

    instances: InstancesAnswer | None = None
    instance_samples: Part = EMPTY
    statistics: Statistics | None = None
    statistics_samples: Part = EMPTY


class Renderer:
    """Renders each workspace only when its data changed (by version), and the exposition only
    when anything changed (by the state's generation)."""

    def __init__(self, state: State) -> None:
        self.state = state
        self._fragments: dict[str, tuple[WorkspaceState, int, Fragment]] = {}
        self._parts: dict[str, _DataParts] = {}
        self._generation = -1
        self._plain = b""
        self.last_render_seconds = 0.0  # work of the last snapshot_async, without its pauses

    def _current(self, name: str, workspace: WorkspaceState) -> Fragment | None:
        """The cached samples of the workspace, if nothing changed since they were rendered."""
        cached = self._fragments.get(name)
        if cached is not None and cached[0] is workspace and cached[1] == workspace.version:
            return cached[2]
        return None

    def _render(self, name: str, workspace: WorkspaceState) -> Fragment:
        """The workspace's samples; the instances and statistics parts are re-rendered only
        when a poll brought new data for them, the small bookkeeping part at every change."""
        parts = self._parts.setdefault(name, _DataParts())
        if parts.instances is not workspace.instances:
            parts.instances = workspace.instances
            parts.instance_samples = (
                EMPTY
                if workspace.instances is None
                else render_instances(name, workspace.instances)
            )
        if parts.statistics is not workspace.statistics:
            parts.statistics = workspace.statistics
            parts.statistics_samples = (
                EMPTY
                if workspace.statistics is None
                else render_statistics(name, workspace.statistics)
            )
        fragment = (parts.instance_samples, parts.statistics_samples, render_bookkeeping(workspace))
        self._fragments[name] = (workspace, workspace.version, fragment)
        return fragment

    def _forget_removed(self) -> None:
        if len(self._fragments) > len(self.state.workspaces):  # workspaces were removed
            for name in set(self._fragments) - set(self.state.workspaces):
                del self._fragments[name]
                self._parts.pop(name, None)

    def _parts_for(self, fragments: list[Fragment]) -> list[bytes]:
        self._forget_removed()
        return join_families(fragments, exporter_families(self.state))

    def snapshot(self) -> tuple[int, list[bytes]]:
        """The state's generation and the exposition parts for it (cheap: no big copies)."""
        fragments = []
        for name, workspace in self.state.workspaces.items():
            fragment = self._current(name, workspace)
            fragments.append(self._render(name, workspace) if fragment is None else fragment)
        return self.state.generation, self._parts_for(fragments)

    async def snapshot_async(self, batch: int = 3) -> tuple[int, list[bytes]]:
        """Like snapshot, yielding to the event loop every `batch` re-rendered workspaces, or
        every 50 times as many cached ones, so that scrapes and polls never wait for a whole
        fleet to be rendered and grouped (a small batch: a short wait for a scrape, for a
        little more render CPU; benchmarks/README.md). Changes made
        meanwhile may or may not be included; the generation returned is the one before them,
        so the next render picks them up."""
        generation = self.state.generation
        joiner = FamilyJoiner()
        work = 0
        spent, segment = 0.0, time.perf_counter()
        for name, workspace in list(self.state.workspaces.items()):
            fragment = self._current(name, workspace)
            if fragment is None:
                fragment = self._render(name, workspace)
                work += 50
            joiner.add(fragment)
            work += 1
            if work >= 50 * batch:
                work = 0
                spent += time.perf_counter() - segment
                await asyncio.sleep(0)
                segment = time.perf_counter()
        self._forget_removed()
        parts = joiner.parts(exporter_families(self.state))
        self.last_render_seconds = spent + time.perf_counter() - segment
        return generation, parts

    def plain(self) -> bytes:
        """The current exposition, rendered now if anything changed."""
        if self._generation != self.state.generation:
            self._generation, parts = self.snapshot()
            self._plain = b"".join(parts)
        return self._plain
