"""Where the collectors that connect to each instance (health, links) may go: the address an
answer names, made into a URL only from plain host and port values, and checked against the
workspace's allowed_networks before any connection."""

from __future__ import annotations

import asyncio
import ipaddress
import re
from collections.abc import Awaitable
from socket import SOCK_STREAM
from typing import TypeVar

from exporter.model.config import IPNetwork, allowed
from exporter.rocketchat.transport import Target

T = TypeVar("T")
_HOST = re.compile(r"[A-Za-z0-9._-]{1,253}|\[?[0-9A-Fa-f:.]{2,45}\]?")
_PORT = re.compile(r"[0-9]{1,5}")


def address(template: str, host: str, port: str) -> str | None:
    """The instance's base URL, or None when host or port are not plain values (a hostile
    answer must not steer the request elsewhere)."""
    if not _HOST.fullmatch(host) or not _PORT.fullmatch(port) or not 0 < int(port) < 65536:
        return None
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return template.format(host=host, port=port)


async def reach(
    template: str, host: str, port: str, networks: tuple[IPNetwork, ...] | None
) -> Target | str:
    """The instance's Target, or why it may not be contacted. The answer names the address, so
    it is checked against allowed_networks (model.config.allowed) before any connection: a name,
    or a numeric form like 2130706433, is resolved once, every address it gives must be
    inside, and the connection goes to the first of them (http and https alike). A name that
    does not resolve is not contacted (fail closed: a lookup that fails now may answer an
    outside address to the next asker)."""
    if address(template, host, port) is None:
        return "no usable host and port in instances.get"
    bare = host[1:-1] if host.startswith("[") else host
    name: str | None = None
    try:
        addresses = [ipaddress.ip_address(bare)]
    except ValueError:
        name = bare
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(bare, None, type=SOCK_STREAM)
            addresses = [ipaddress.ip_address(str(i[4][0]).partition("%")[0]) for i in infos]
        except (OSError, UnicodeError, ValueError) as exc:
            why = getattr(exc, "strerror", None) or type(exc).__name__
            return f"not contacted: {bare} does not resolve ({why})"
    if not addresses:
        return f"not contacted: {bare} does not resolve (no address)"
    for found in addresses:
        if not allowed(found, networks):
            return f"not contacted: {found} is outside allowed_networks"
    base = address(template, str(addresses[0]), port)
    assert base is not None  # an address and the port already checked
    if name is None:
        return Target(base)
    default = "443" if template.startswith("https:") else "80"
    return Target(base, name, name if port == default else f"{name}:{port}")


async def all_within(limit: float, calls: list[Awaitable[T]]) -> list[T | None]:
    """Every call at once, all within one timeout (the wait for a probe slot included): a poll
    lands within its interval + timeout however many instances hang. None for each call not
    done by then; all are cancelled when the poll is (a reload, the end): none outlives it."""
    tasks = [asyncio.ensure_future(call) for call in calls]
    try:
        if tasks:
            await asyncio.wait(tasks, timeout=limit)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return [
        task.result() if not task.cancelled() and task.exception() is None else None
        for task in tasks
    ]
