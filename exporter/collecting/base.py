"""What a collector declares, once: its requests, its metric families and how to render them.

A collector is one group of Rocket.Chat endpoints, one module of exporter/collectors (the
registry finds them). Each request is polled on its own schedule and has its own `endpoint`
label; its parsed answer is kept in the workspace's state under a typed Key, and the collector
renders its families from what it reads there. The runtime and the exposition know collectors
only through this protocol.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

if TYPE_CHECKING:
    from exporter.model.config import Config, WorkspaceConfig
    from exporter.rocketchat.client import RocketChatClient

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)

# the lines of one workspace's samples, by family name
Out = dict[str, list[str]]


@dataclass(frozen=True)
class Key(Generic[T_co]):
    """A typed slot of a workspace's collected data: the latest good answer of the request
    with this `endpoint` label, parsed to a T. Reading it back through the key gives a T
    (no isinstance on the way back); the request that fills it declares the same key."""

    endpoint: str


class Collected(Protocol):
    """What a collector reads of one workspace's state: the latest good data of any request
    (by its key), what a request remembers across failures, and the version the workspace
    runs. The runtime's WorkspaceState is one; collectors sit below the runtime."""

    def get(self, key: Key[T]) -> T | None: ...

    def remembered(self, key: Key[T]) -> Any: ...

    @property
    def running_version(self) -> str | None: ...


@dataclass(frozen=True)
class Family:
    """One metric family: the exposition's HELP and TYPE, and its labels (for the docs)."""

    name: str
    kind: str
    help: str
    labels: tuple[str, ...] = ("workspace",)


@dataclass(frozen=True)
class Fetch:
    """What a custom fetch gets: the workspace's client (shared session, semaphore, caps), its
    config and its state (e.g. the latest instances.get answer)."""

    client: RocketChatClient
    workspace: WorkspaceConfig
    state: Collected


# a problem with a setting: (where below the collector's key, e.g. "allowed_networks[2]", or
# "" for the collector itself; what is wrong)
Report = Callable[[str, str], None]


@dataclass(frozen=True)
class Option(Generic[T]):
    """One setting of a collector, `collectors.<collector>.<key>` in the config, declared beside
    the collector with its default and its reader (which reports a bad value and returns None),
    as blackbox_exporter keeps a prober's options. Read back with WorkspaceConfig.setting."""

    collector: str
    key: str
    default: T
    read: Callable[[Any, Report], T | None]


@dataclass(frozen=True)
class Request(Generic[T]):
    """One request of a collector: its answer parsed to a T and kept under `key` (whose
    endpoint is its label in the exporter's own metrics)."""

    key: Key[T]
    path: str
    parse: Callable[[Any, Config], T | None]  # the answer's body -> data; raises ParseError only
    params: Callable[[], Mapping[str, str]] | None = None  # built at each poll
    # instead of one GET of `path` with the workspace's credentials (health: one GET per
    # instance, straight to its address); returns the data, raises PollError or one of
    # outcome.py's NotAvailable and NeedsCore
    fetch: Callable[[Fetch], Awaitable[T]] | None = None
    query_doc: str = ""  # the query string as the docs show it
    # what the operator should know about a successful answer (e.g. a permission that would
    # show more): the status page shows it beside "ok", the log says it once
    note: Callable[[T], str] | None = None
    # what to keep across failures, from what was kept and a new answer at a time (the
    # instances a workspace listed, for the vanished alert); None: nothing
    remember: Callable[[Any, T, float], Any] | None = None

    @property
    def endpoint(self) -> str:
        return self.key.endpoint


def _no_render(ws_label: str, workspace: Collected, out: Out) -> None:
    """A collector whose data only other parts read (the bookkeeping's version)."""


@dataclass(frozen=True)
class Collector:
    name: str  # the config key and the `collector` label
    summary: str  # one line for the docs
    requests: tuple[Request[Any], ...]
    interval: Callable[[WorkspaceConfig], float]  # the default interval of its requests
    interval_doc: str  # the same, as the docs say it
    families: tuple[Family, ...]
    rank: int  # its place in the exposition and the docs (the registry sorts by it)
    render: Callable[[str, Collected, Out], None] = _no_render
    # keys of other collectors its render reads too: its part is rendered again when any of
    # them (or its own) holds other data, and only then
    reads: tuple[Key[Any], ...] = ()
    optional: bool = True
    default_enabled: bool = False
    min_interval: float = 0.0  # an interval below this is a config error
    permission: str = ""  # what the exporter's user needs ("" when nothing)
    versions: str = ""  # the server versions that have it
    # its own settings (Option), and a check of them together once read: (enabled, interval
    # or None, the workspace's settings, report), e.g. links needs allowed_networks
    options: tuple[Option[Any], ...] = ()
    check: Callable[[bool, float | None, Callable[[Option[Any]], Any], Report], None] | None = None
    # the version the workspace runs, as this collector's data tells it (None: it cannot);
    # asked in version_rank order, the first answer wins (rocketchat_workspace_info)
    version: Callable[[Collected], str | None] | None = None
    version_rank: int = 0

    @property
    def endpoints(self) -> tuple[str, ...]:
        return tuple(r.endpoint for r in self.requests)

    @property
    def keys(self) -> tuple[Key[Any], ...]:
        """Every key its render reads: its own requests', then `reads`."""
        return (*(r.key for r in self.requests), *self.reads)
