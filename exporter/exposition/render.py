"""The exposition cache: state -> Prometheus text (format 0.0.4), re-rendered only where needed.

Each workspace's samples are rendered (encoder.py) into per-family fragments only when its data
changed, each collector's part only when the data it reads changed (by identity); the fragments
are joined family by family (the text format needs each family grouped
under one HELP/TYPE header, see collecting/registry.py for the order) and the result is cached
until the next change.
"""

from __future__ import annotations

import asyncio
import time

from exporter.collecting.registry import COLLECTORS
from exporter.exposition.encoder import (
    FamilyJoiner,
    Fragment,
    Part,
    exporter_families,
    join_families,
    render_bookkeeping,
    render_collector,
    workspace_label,
)
from exporter.runtime.state import State, WorkspaceState

# a collector's part of one workspace, and the data objects it was rendered from
_Cached = tuple[tuple[object, ...], Part]


def _same(before: tuple[object, ...], now: tuple[object, ...]) -> bool:
    return all(a is b for a, b in zip(before, now, strict=True))


class Renderer:
    """Renders each workspace only when its data changed (by version), and the exposition only
    when anything changed (by the state's generation)."""

    def __init__(self, state: State) -> None:
        self.state = state
        self._fragments: dict[str, tuple[WorkspaceState, int, Fragment]] = {}
        self._parts: dict[str, dict[str, _Cached]] = {}  # workspace -> collector -> part
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
        """The workspace's samples: each collector's part is rendered again only when the
        data it reads is other objects than last time, the small bookkeeping part at every
        change."""
        cache = self._parts.setdefault(name, {})
        data = workspace.data
        parts: list[Part] = []
        ws_label = ""
        for collector_name, _ in workspace.collectors:
            collector = COLLECTORS[collector_name]
            now = tuple(data.get(key.endpoint) for key in collector.keys)
            cached = cache.get(collector_name)
            if cached is None or not _same(cached[0], now):
                ws_label = ws_label or workspace_label(name)
                cached = cache[collector_name] = (
                    now,
                    render_collector(collector, ws_label, workspace),
                )
            parts.append(cached[1])
        parts.append(render_bookkeeping(workspace))
        fragment = tuple(parts)
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
