"""Token and password files: read safely (regular files only, bounded, UTF-8), never shown."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from exporter.model.config import Secret

MAX_SECRET_FILE_BYTES = 64 * 1024  # a token or password; anything bigger is not one


class SecretFileError(ValueError):
    """A secret file (or inline secret) that cannot be used; the message never shows it."""


_NOT_HEADER_SAFE = "must be printable ASCII without spaces or control characters"


def secret_problem(value: str, *, header: bool) -> str:
    """What makes a secret (or user id) unusable, "" if nothing. `header`: it is sent in an
    HTTP header, so printable ASCII only; otherwise no control characters."""
    if value.isascii() and value.isprintable():  # the usual case, at C speed
        return "" if not header or " " not in value else _NOT_HEADER_SAFE
    if header and not all("!" <= c <= "~" for c in value):
        return _NOT_HEADER_SAFE
    if any(ord(c) < 32 or 127 <= ord(c) < 160 for c in value):
        return "contains a control character"
    return ""


def read_secret_file(file: Path, *, header: bool) -> str:
    """A token or password file: a regular file of at most 64 KiB, UTF-8, with a BOM and
    surrounding whitespace stripped. A FIFO or device is refused without blocking on it.
    Raises OSError when it cannot be read, SecretFileError when its content is unusable."""
    fd = os.open(file, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise SecretFileError("is not a regular file")
        chunks, size = [], 0
        while chunk := os.read(fd, MAX_SECRET_FILE_BYTES + 1 - size):
            chunks.append(chunk)
            size += len(chunk)
            if size > MAX_SECRET_FILE_BYTES:
                raise SecretFileError(f"is larger than {MAX_SECRET_FILE_BYTES} bytes")
    finally:
        os.close(fd)
    try:
        text = b"".join(chunks).decode("utf-8").removeprefix("\ufeff").strip()
    except UnicodeDecodeError:
        raise SecretFileError("is not valid UTF-8") from None
    if not text:
        raise SecretFileError("is empty")
    problem = secret_problem(text, header=header)
    if problem:
        raise SecretFileError(problem)
    return text


def read_secret(inline: Secret | None, file: Path | None, *, header: bool = False) -> str:
    """The current secret: the inline value (checked at load), or the file's, read now."""
    if inline is not None:
        return inline.reveal()
    if file is None:
        raise SecretFileError("is not configured")
    return read_secret_file(file, header=header)
