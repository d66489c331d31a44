"""A plain HTTP forward proxy on loopback, for the tests of proxy support."""

from __future__ import annotations

import asyncio


class ForwardProxy:
    """A plain HTTP forward proxy on 127.0.0.1: takes absolute-form requests, maps host names
    through `hosts` (names nothing else resolves), and relays one answer per connection."""

    def __init__(self, hosts: dict[str, str]) -> None:
        self.hosts = hosts
        self.seen: list[str] = []
        self.server: asyncio.Server | None = None

    async def start(self) -> str:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
            line, _, rest = head.partition("\r\n")
            method, target, version = line.split(" ")
            self.seen.append(target)
            authority, _, path = target.removeprefix("http://").partition("/")
            host, _, port = authority.partition(":")
            upstream_r, upstream_w = await asyncio.open_connection(
                self.hosts.get(host, host), int(port or 80)
            )
            upstream_w.write(f"{method} /{path} {version}\r\nConnection: close\r\n{rest}".encode())
            writer.write(await upstream_r.read())
            upstream_w.close()
        except (OSError, ValueError, asyncio.IncompleteReadError):
            writer.write(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
        finally:
            await writer.drain()
            writer.close()

    def close(self) -> None:
        if self.server is not None:
            self.server.close()
