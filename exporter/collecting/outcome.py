"""What a failed poll means, decided in one place: not available on this server's version (no
series, no error), the core's verdict shared (a collector that needs the core's data, or a 404
while the core fails too: maybe no Rocket.Chat at all), a permission missing (named: the
collector's own), or the error as it is."""

from __future__ import annotations

from dataclasses import dataclass

from exporter.collecting.base import Collector, Request
from exporter.rocketchat.errors import PollError

NOT_AVAILABLE = "not available on this version"
WAITING = "waiting for the first instances.get answer"


class NotAvailable(Exception):
    """A collector's own finding that this server has no such endpoint (health before 5.3)."""


class NeedsCore(Exception):
    """A fetch that cannot run without the core's data (no instances.get answer to ask)."""


@dataclass(frozen=True)
class Outcome:
    """A failed poll, classified: `error` to record (None: no error, record `note` as a success
    without data: nothing to show, nothing wrong)."""

    error: PollError | None
    note: str = ""


def classify(
    collector: Collector,
    request: Request[object],
    raised: PollError | NotAvailable | NeedsCore,
    core_failure: tuple[str, str] | None,
) -> Outcome:
    """`core_failure`: (reason, message) of a failing core endpoint of the workspace, if any."""
    path = request.path
    if isinstance(raised, NotAvailable):
        return Outcome(None, NOT_AVAILABLE)
    if isinstance(raised, NeedsCore) or (collector.optional and raised.status == 404):
        if core_failure is not None:
            # the core fails too: maybe no Rocket.Chat at all, so no "not available on this
            # version" (which would look green); the collector shares the core's verdict
            reason, message = core_failure
            return Outcome(PollError(reason, f"{path}: the core endpoints fail too ({message})"))
        return Outcome(None, WAITING if isinstance(raised, NeedsCore) else NOT_AVAILABLE)
    if raised.reason == "forbidden":
        off = (
            f", or turn the {collector.name} collector off for this workspace"
            if collector.optional
            else ""
        )
        return Outcome(
            PollError(
                "forbidden",
                f"{path}: HTTP {raised.status or 403}, the exporter's user lacks the permission "
                f"{collector.permission}; grant it{off}",
                error=raised.error,
                source=raised.source,
                status=raised.status,
            )
        )
    return Outcome(raised)
