"""The standard self-metrics of every Prometheus exporter (process_*, python_info, python_gc_*),
exactly as prometheus-client's own collectors produce them, appended to each exposition.

They are rendered at most once a second into a small private registry. The big exposition is
kept gzipped as an open stream (sync-flushed, no trailer); a scrape finishes a copy of that
stream with these few lines, so the answer is one valid gzip member without re-compressing
the fleet's data.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Callable, Iterable

REFRESH_SECONDS = 1.0


class SelfMetrics:
    """prometheus-client is imported at the first scrape, not at start: its import time
    need not delay the first exposition."""

    def __init__(self) -> None:
        self._render: Callable[[], bytes] | None = None
        self._rendered_at = -REFRESH_SECONDS
        self._text = b""

    def _renderer(self) -> Callable[[], bytes]:
        from prometheus_client import (
            CollectorRegistry,
            GCCollector,
            PlatformCollector,
            ProcessCollector,
        )
        from prometheus_client.exposition import generate_latest

        registry = CollectorRegistry(auto_describe=False)
        ProcessCollector(registry=registry)
        PlatformCollector(registry=registry)
        GCCollector(registry=registry)
        return lambda: generate_latest(registry)

    def text(self) -> bytes:
        now = time.monotonic()
        if now - self._rendered_at >= REFRESH_SECONDS:
            if self._render is None:
                self._render = self._renderer()
            self._text = self._render()
            self._rendered_at = now
        return self._text


def open_gzip(pieces: Iterable[bytes]) -> tuple[bytes, zlib._Compress]:
    """The gzip of the pieces so far (sync-flushed) and the compressor to finish it with."""
    compressor = zlib.compressobj(1, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    out = [compressor.compress(piece) for piece in pieces]
    out.append(compressor.flush(zlib.Z_SYNC_FLUSH))
    return b"".join(out), compressor


def finish_gzip(compressor: zlib._Compress, tail: bytes) -> bytes:
    """The rest of the gzip member after the head: `tail`, compressed, and the trailer."""
    finisher = compressor.copy()
    return finisher.compress(tail) + finisher.flush()
