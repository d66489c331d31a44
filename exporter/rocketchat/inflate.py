"""Bounded decompression of an answer: the cap holds for the decompressed size too."""

from __future__ import annotations

import zlib
from typing import Any

from exporter.rocketchat.errors import PollError


class Inflater:
    """Undoes a Content-Encoding while counting the output against the size cap, so a small
    compressed answer can never become a large body in memory (decompression bombs). A gzip
    body of several members (concatenated streams, as gzip(1) and aiohttp accept) is read
    whole, zero padding after a member skipped (as gzip(1) and Python's gzip do)."""

    def __init__(self, encoding: str, path: str, limit: int) -> None:
        self.path, self.limit, self.size = path, limit, 0
        encoding = encoding.strip().lower()
        if encoding in ("", "identity"):
            self.wbits = 0
        elif encoding in ("gzip", "x-gzip"):
            self.wbits = 16 + zlib.MAX_WBITS
        elif encoding == "deflate":
            self.wbits = 32 + zlib.MAX_WBITS  # zlib or gzip header
        else:
            raise PollError(
                "invalid_response",
                f"{path}: answer in an unsupported Content-Encoding; check the server or proxy",
            )
        self.zlib: Any = zlib.decompressobj(wbits=self.wbits) if self.wbits else None

    def feed(self, chunk: bytes) -> bytes:
        if self.zlib is None:
            return self._count(chunk)
        out: list[bytes] = []
        try:
            while chunk:
                if self.zlib.eof:  # between members: zero padding is skipped, as gzip(1) does
                    chunk = chunk.lstrip(b"\0")
                    if not chunk:
                        break
                    self.zlib = zlib.decompressobj(wbits=self.wbits)  # the next member
                piece = self.zlib.decompress(chunk, self.limit - self.size + 1)
                out.append(self._count(piece))
                if self.zlib.unconsumed_tail:  # more output than the cap allows
                    raise self.too_large()
                chunk = self.zlib.unused_data if self.zlib.eof else b""
        except zlib.error:
            raise PollError("invalid_response", f"{self.path}: corrupt compressed answer") from None
        return out[0] if len(out) == 1 else b"".join(out)

    def finish(self) -> bytes:
        """The end of the body: what the decompressor still holds (nothing, usually)."""
        if self.zlib is None:
            return b""
        try:
            return self._count(self.zlib.flush())
        except zlib.error:
            raise PollError("invalid_response", f"{self.path}: corrupt compressed answer") from None

    def _count(self, data: bytes) -> bytes:
        self.size += len(data)
        if self.size > self.limit:
            raise self.too_large()
        return data

    def too_large(self) -> PollError:
        return PollError(
            "too_large",
            f"{self.path}: answer larger than {self.limit} bytes (decompressed); raise "
            "max_response_bytes if it is legitimate",
        )
