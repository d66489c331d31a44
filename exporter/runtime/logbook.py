"""Quiet logs: a broken workspace logs one line when its trouble starts or changes, then at most
one line every 10 minutes while it lasts, and one when it is over, however many endpoints
fail at every poll. The status pages and the self-metrics carry the rest."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

log = logging.getLogger("exporter.poller")

REPEAT_AFTER = 600.0  # seconds between two lines about the same unchanged trouble


@dataclass(slots=True)
class _Trouble:
    reasons: dict[str, str] = field(default_factory=dict)  # failing endpoint -> its reason
    logged: frozenset[str] = frozenset()  # the reasons the last line was about
    logged_at: float = 0.0


class Logbook:
    """The troubles of every workspace; `clock` is monotonic seconds (tests pass their own)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._troubles: dict[str, _Trouble] = {}

    def failed(self, workspace: str, endpoint: str, reason: str, message: str) -> None:
        trouble = self._troubles.setdefault(workspace, _Trouble())
        trouble.reasons[endpoint] = reason
        reasons = frozenset(trouble.reasons.values())
        now = self._clock()
        if reasons - trouble.logged:  # a new trouble, or a new reason
            level, still = logging.WARNING, ""
        elif now - trouble.logged_at >= REPEAT_AFTER:
            level, still = logging.WARNING, "still "
        else:
            log.debug("workspace %s: %s failed (%s): %s", workspace, endpoint, reason, message)
            return
        failing = ", ".join(sorted(trouble.reasons))
        log.log(
            level,
            "workspace %s: %sfailing (%s): %s [%s]",
            workspace, still, reason, message, failing,
        )  # fmt: skip
        trouble.logged, trouble.logged_at = reasons, now

    def succeeded(self, workspace: str, endpoint: str) -> None:
        trouble = self._troubles.get(workspace)
        if trouble is None or trouble.reasons.pop(endpoint, None) is None:
            return
        if not trouble.reasons:
            del self._troubles[workspace]
            log.info("workspace %s: recovered (%s answers again)", workspace, endpoint)

    def forget(self, workspace: str) -> None:
        """A workspace removed or replaced by a reload: its next trouble is news."""
        self._troubles.pop(workspace, None)
