"""Bounded decompression of an answer: the cap holds for the decompressed size too."""

from __future__ import annotations

import zlib
from typing import Any

from .rcerrors import PollError


class Inflater:
    """Undoes a Content-Encoding while counting the output against the size cap, so a small
    compressed answer can never become a large body in memory (decompression bombs)."""

    def __init__(self, encoding: str, path: str, limit: int) -> None:
        self.path, self.limit, self.size = path, limit, 0
        encoding = encoding.strip().lower()
        if encoding in ("", "identity"):
            self.zlib: Any = None
        elif encoding in ("gzip", "x-gzip"):
            self.zlib = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        elif encoding == "deflate":
            self.zlib = zlib.decompressobj(wbits=32 + zlib.MAX_WBITS)  # zlib or gzip header
        else:
            raise PollError(
                "invalid_response",
                f"{path}: answer in an unsupported Content-Encoding; check the server or proxy",
            )

    def expect(self, size: int) -> None:
        """Refuse at once `size` more bytes announced (a chunk's size) that would pass the cap."""
        if self.size + size > self.limit:
            raise self._too_large()

    def feed(self, chunk: bytes) -> bytes:
        if self.zlib is None:
            return self._count(chunk)
        try:
            out = self.zlib.decompress(chunk, self.limit - self.size + 1)
            if self.zlib.unconsumed_tail:  # more output than the cap allows
                self._count(out)
                raise self._too_large()
        except zlib.error:
            raise PollError("invalid_response", f"{self.path}: corrupt compressed answer") from None
        return self._count(out)

    def _count(self, data: bytes) -> bytes:
        self.size += len(data)
        if self.size > self.limit:
            raise self._too_large()
        return data

    def _too_large(self) -> PollError:
        return PollError(
            "too_large",
            f"{self.path}: answer larger than {self.limit} bytes (decompressed); raise "
            "max_response_bytes if it is legitimate",
        )
