"""Scripted answers for FakeWorkspace.overrides: any failure a real deployment shows (status
codes, HTML, hangs, truncated, reset, endless or decompression-bomb bodies)."""

from __future__ import annotations

import asyncio
import gzip
from typing import Any

from aiohttp import web

from exporter.demo.fleet import Handler


def respond(status: int, body: Any = None, *, headers: dict[str, str] | None = None) -> Handler:
    """A fixed JSON answer (or raw bytes/str with a content type guessed as HTML)."""

    async def handler(request: web.Request) -> web.StreamResponse:
        if isinstance(body, bytes | str):
            raw = body.encode() if isinstance(body, str) else body
            return web.Response(body=raw, status=status, headers=headers, content_type="text/html")
        return web.json_response(body, status=status, headers=headers)

    return handler


def hang() -> Handler:
    """Accept the request and never answer."""

    async def handler(request: web.Request) -> web.StreamResponse:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    return handler


def delayed(seconds: float, inner: Handler) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(seconds)
        return await inner(request)

    return handler


def _cut_short(body: bytes, declared: int | None) -> Handler:
    """Start an answer and drop the connection before it is complete: with a Content-Length
    that promises more (closed cleanly), or chunked (reset: no final chunk ever comes)."""

    async def handler(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
        if declared is None:
            response.enable_chunked_encoding()
        else:
            response.content_length = declared
        await response.prepare(request)
        await response.write(body)
        transport = request.transport
        if transport is not None:
            if declared is None:
                transport.abort()
            else:
                transport.close()
        return response

    return handler


def truncated(body: bytes, declared: int) -> Handler:
    """Send part of a body, then close the connection (Content-Length promises more)."""
    return _cut_short(body, declared)


def reset_mid_body(prefix: bytes = b'{"instances": [') -> Handler:
    """Start a chunked answer, then drop the connection without finishing it."""
    return _cut_short(prefix, None)


def gzip_bomb(decompressed: int, *, declare_length: bool = True) -> Handler:
    """A small gzip answer that inflates to `decompressed` bytes of JSON whitespace."""
    body = gzip.compress(b"{}" + b" " * (decompressed - 2), compresslevel=9)

    async def handler(request: web.Request) -> web.StreamResponse:
        headers = {"Content-Type": "application/json", "Content-Encoding": "gzip"}
        if declare_length:
            return web.Response(body=body, headers=headers)
        response = web.StreamResponse(status=200, headers=headers)
        response.enable_chunked_encoding()
        await response.prepare(request)
        await response.write(body)
        await response.write_eof()
        return response

    return handler


def endless(chunk: bytes = b" " * 65536, limit: int = 1 << 30) -> Handler:
    """A chunked body that goes on and on (up to `limit` bytes) - tests the size cap."""

    async def handler(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        sent = 0
        try:
            while sent < limit:
                await response.write(chunk)
                sent += len(chunk)
        except (ConnectionResetError, RuntimeError):
            pass
        return response

    return handler
