"""What a collector declares, once: its requests, its metric families and how to render them.

A collector is one group of Rocket.Chat endpoints (see registry.py for the list). Each request
is polled on its own schedule and has its own `endpoint` label; the collector's metric families
are rendered from the parsed answers of its requests, kept per endpoint in the workspace state.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from exporter.collectors.records import InstancesAnswer
    from exporter.model.config import Config, WorkspaceConfig
    from exporter.rocketchat.client import RocketChatClient

# the lines of one workspace's samples, by family name
Out = dict[str, list[str]]


class Collected(Protocol):
    """What a collector reads of one workspace's state: the latest instances.get answer, the
    running version and the latest good data of each optional endpoint. The runtime's
    Collected is one; collectors sit below the runtime and do not import it."""

    @property
    def instances(self) -> InstancesAnswer | None: ...

    @property
    def collected(self) -> Mapping[str, Any]: ...

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


@dataclass(frozen=True)
class Request:
    """One request of a collector; `endpoint` is its label in the exporter's own metrics."""

    endpoint: str
    path: str
    parse: Callable[[Any, Config], Any]  # the answer's body -> data; raises ParseError only
    params: Callable[[], Mapping[str, str]] | None = None  # built at each poll
    # instead of one GET of `path` with the workspace's credentials (health: one GET per
    # instance, straight to its address); returns the data, raises PollError
    fetch: Callable[[Fetch], Awaitable[Any]] | None = None
    query_doc: str = ""  # the query string as the docs show it
    # what the operator should know about a successful answer (e.g. a permission that would
    # show more): the status page shows it beside "ok", the log says it once
    note: Callable[[Any], str] | None = None


def _no_render(ws_label: str, workspace: Collected, out: Out) -> None:
    """Collectors whose data the core renderer or the bookkeeping part renders."""


@dataclass(frozen=True)
class Collector:
    name: str  # the config key and the `collector` label
    summary: str  # one line for the docs
    requests: tuple[Request, ...]
    interval: Callable[[WorkspaceConfig], float]  # the default interval of its requests
    interval_doc: str  # the same, as the docs say it
    families: tuple[Family, ...]
    render: Callable[[str, Collected, Out], None] = _no_render
    optional: bool = True
    default_enabled: bool = False
    min_interval: float = 0.0  # an interval below this is a config error
    permission: str = ""  # what the exporter's user needs ("" when nothing)
    versions: str = ""  # the server versions that have it

    @property
    def endpoints(self) -> tuple[str, ...]:
        return tuple(r.endpoint for r in self.requests)
