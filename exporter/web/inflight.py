"""The /metrics answers in flight, bounded whatever the clients do. Each answer keeps the
exposition version it started with until its client has read it all, so readers that read a
little at a time while the exposition changes would pin one whole version each. Two bounds:
at most `max_answers` answers at once (one more aborts the oldest in flight, never the
newcomer: a scrape is always answered), and the versions that only answers in flight keep
alive take at most `budget` bytes (beyond it, the answers holding the oldest version are
aborted). A normal scrape reads its answer in milliseconds and is never the oldest."""

from __future__ import annotations

import logging
import time

from aiohttp import web

log = logging.getLogger("exporter.web")

MAX_ANSWERS = 40  # node_exporter's --web.max-requests default
PINNED_BUDGET = 64 << 20  # bytes of older versions kept alive by answers in flight
WARN_EVERY = 60.0


class InFlight:
    def __init__(self, max_answers: int = MAX_ANSWERS, budget: int = PINNED_BUDGET) -> None:
        self.max_answers = max(1, max_answers)
        self.budget = budget
        self.aborted = 0  # answers aborted so far (either bound)
        self._answers: dict[int, tuple[web.Request, bytes]] = {}  # in the order they started
        self._next = 0
        self._warned = 0.0

    def __len__(self) -> int:
        return len(self._answers)

    def pinned(self, current: bytes) -> int:
        """Bytes of the versions other than `current` that answers in flight keep alive."""
        return sum({id(b): len(b) for _, b in self._answers.values() if b is not current}.values())

    def admit(self, request: web.Request, body: bytes) -> int:
        """Count an answer of `body` (the current version) in; its key for release."""
        key, self._next = self._next, self._next + 1
        self._answers[key] = (request, body)
        while len(self._answers) > self.max_answers:
            self._abort(next(iter(self._answers)), "more answers in flight than the cap")
        limit = max(self.budget, 2 * len(body))  # at least two older versions of any size
        pinned = self.pinned(body)
        for older, (_, held) in list(self._answers.items()):
            if pinned <= limit:
                break
            if held is body or older not in self._answers:
                continue
            pinned -= len(held)
            for other, (_, same) in list(self._answers.items()):
                if same is held:
                    self._abort(other, "older expositions held by slow readers above the budget")
        return key

    def release(self, key: int) -> None:
        self._answers.pop(key, None)

    def _abort(self, key: int, why: str) -> None:
        request, _ = self._answers.pop(key)
        transport = request.transport
        if transport is not None:
            transport.abort()  # the handler's next write fails; its version is let go
        self.aborted += 1
        now = time.monotonic()
        if now - self._warned >= WARN_EVERY:
            self._warned = now
            log.warning(
                "aborted a slow /metrics answer: %s (%d so far; see docs/security.md)",
                why,
                self.aborted,
            )
