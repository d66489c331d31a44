"""Exposition text (format 0.0.4): a collector's part of one workspace (its render, encoded by
family), the bookkeeping part, the exporter's own families, and the join that groups every
family under one HELP/TYPE header."""

from __future__ import annotations

import platform
from collections import defaultdict
from collections.abc import Iterable

from exporter import __version__
from exporter.collecting.base import Collected, Collector, Family
from exporter.collecting.expfmt import escape, fmt
from exporter.collecting.registry import FAMILIES, ORDER
from exporter.rocketchat.values import shared_in
from exporter.runtime.state import State, WorkspaceState

# a workspace's samples of one part: the families present (one shared tuple per set of names)
# and each family's sample lines, in the same order. Two tuples, not a dict: smaller per
# workspace, and the join walks them faster
Part = tuple[tuple[str, ...], tuple[bytes, ...]]
EMPTY: Part = ((), ())
_NAMES: dict[tuple[str, ...], tuple[str, ...]] = {}
# distinct sets of families shared: a handful in practice, but which statistics fields a
# server sends is up to the server, so the table is capped (past it, each part keeps its own)
MAX_SHARED_NAMES = 1024


_RANK = {family: rank for rank, family in enumerate(ORDER)}


def _rank(item: tuple[str, list[str]]) -> int:
    return _RANK[item[0]]


def _encoded(out: dict[str, list[str]]) -> Part:
    """The families present, in the exposition's order (the few a part has, sorted: not a
    dict of every family made and walked for each part), and their lines as bytes."""
    # the parsers already escape lone surrogates (see parse.clean); this keeps that promise
    # even for a string that did not pass through them, without merging distinct values
    present = sorted((item for item in out.items() if item[1]), key=_rank)
    names = tuple(name for name, _ in present)
    encoded = tuple("".join(lines).encode("utf-8", "backslashreplace") for _, lines in present)
    return shared_in(_NAMES, names, MAX_SHARED_NAMES), encoded


def workspace_label(name: str) -> str:
    return f'workspace="{escape(name)}"'


def render_collector(collector: Collector, ws_label: str, workspace: Collected) -> Part:
    """One collector's part of a workspace's samples, by family."""
    out: dict[str, list[str]] = defaultdict(list)
    collector.render(ws_label, workspace, out)
    return _encoded(out)


def render_bookkeeping(workspace: WorkspaceState) -> Part:
    """rocketchat_up and the exporter's poll metrics of a workspace, by family."""
    out: dict[str, list[str]] = defaultdict(list)
    ws_label = workspace_label(workspace.name)
    up = workspace.up
    if up is not None:
        out["rocketchat_up"].append(f"rocketchat_up{{{ws_label}}} {1 if up else 0}\n")
    version = workspace.running_version
    if version is not None:
        out["rocketchat_workspace_info"].append(
            f'rocketchat_workspace_info{{{ws_label},version="{escape(version)}"}} 1\n'
        )
    success = "rocketchat_exporter_collector_success"
    for collector, ok in workspace.collector_success():
        out[success].append(f'{success}{{{ws_label},collector="{collector}"}} {1 if ok else 0}\n')
    for endpoint, status in workspace.status.items():
        labels = f'{ws_label},endpoint="{endpoint}"'
        if status.duration_seconds is not None:
            out["rocketchat_exporter_poll_duration_seconds"].append(
                f"rocketchat_exporter_poll_duration_seconds{{{labels}}} "
                f"{fmt(status.duration_seconds)}\n"
            )
        if status.last_success is not None:
            out["rocketchat_exporter_last_success_timestamp_seconds"].append(
                f"rocketchat_exporter_last_success_timestamp_seconds{{{labels}}} "
                f"{fmt(status.last_success)}\n"
            )
    for (endpoint, reason), count in sorted(workspace.errors.items()):
        out["rocketchat_exporter_poll_errors_total"].append(
            f'rocketchat_exporter_poll_errors_total{{{ws_label},endpoint="{endpoint}",'
            f'reason="{reason}"}} {count}\n'
        )
    return _encoded(out)


_HEADERS = {
    f.name: f"# HELP {f.name} {f.help}\n# TYPE {f.name} {f.kind}\n".encode() for f in FAMILIES
}


BUILD_INFO = Family(
    "rocketchat_exporter_build_info",
    "gauge",
    "The exporter's version and Python version.",
    ("version", "python_version"),
)
AUTH_FAILURES = Family(
    "rocketchat_exporter_http_auth_failures_total",
    "counter",
    "Requests to the exporter's endpoints refused for missing or wrong basic auth credentials.",
    (),
)
RELOAD_FAILURES = Family(
    "rocketchat_exporter_config_reload_failures_total",
    "counter",
    "Reloads (SIGHUP, POST /-/reload) refused because the config or web config file was "
    "invalid; the running one was kept.",
    ("config",),
)
EXPORTER_ONLY = (BUILD_INFO, AUTH_FAILURES, RELOAD_FAILURES)  # of the process, not a workspace


def _header(family: Family) -> str:
    return f"# HELP {family.name} {family.help}\n# TYPE {family.name} {family.kind}\n"


def build_info() -> bytes:
    return (
        f'{_header(BUILD_INFO)}{BUILD_INFO.name}{{version="{escape(__version__)}",'
        f'python_version="{escape(platform.python_version())}"}} 1\n'
    ).encode()


_BUILD_INFO = build_info()


def exporter_families(state: State) -> bytes:
    """The exporter's own families that belong to no workspace."""
    text = ""
    if state.auth_failures is not None:
        text += f"{_header(AUTH_FAILURES)}{AUTH_FAILURES.name} {state.auth_failures}\n"
    text += _header(RELOAD_FAILURES) + "".join(
        f'{RELOAD_FAILURES.name}{{config="{config}"}} {count}\n'
        for config, count in sorted(state.reload_failures.items())
    )
    return _BUILD_INFO + text.encode()


# A workspace's samples come in parts: one per collector (re-rendered only when the data it
# reads changed) and the bookkeeping (re-rendered at every change). Kept apart, not merged into
# one per workspace: that would be one more copy of every workspace's text.
Fragment = tuple[Part, ...]


class FamilyJoiner:
    """Groups workspaces' fragments family by family, one workspace at a time (so that the
    render can yield to the event loop between workspaces)."""

    def __init__(self) -> None:
        self._buckets: dict[str, list[bytes]] = {}

    def add(self, fragment: Fragment) -> None:
        buckets = self._buckets
        for names, lines in fragment:
            for name, samples in zip(names, lines, strict=True):
                bucket = buckets.get(name)
                if bucket is None:
                    buckets[name] = [_HEADERS[name], samples]
                else:
                    bucket.append(samples)

    def parts(self, head: bytes) -> list[bytes]:
        """`head` (the exporter's own families), then each family under its one header (the
        text format requires a family's samples to be contiguous), in exposition order."""
        parts = [head]
        for name in ORDER:
            bucket = self._buckets.get(name)
            if bucket is not None:
                parts.extend(bucket)
        return parts


def join_families(fragments: Iterable[Fragment], head: bytes) -> list[bytes]:
    """The parts of the exposition of these workspaces' fragments (see FamilyJoiner)."""
    joiner = FamilyJoiner()
    for fragment in fragments:
        joiner.add(fragment)
    return joiner.parts(head)
