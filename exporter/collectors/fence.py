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


async def fence(
    host: str, networks: tuple[IPNetwork, ...] | None, template: str
) -> tuple[str, str]:
    """(why the instance may not be contacted, "" if it may; the host to connect to). The
    answer names the address, so it is checked against allowed_networks (model.config.allowed)
    before any connection: a name, or a numeric form like 2130706433, is resolved first, and
    for http the address checked is the one connected to (no second lookup to rebind)."""
    bare = host[1:-1] if host.startswith("[") else host
    try:
        addresses = [ipaddress.ip_address(bare)]
    except ValueError:
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(bare, None, type=SOCK_STREAM)
        except (OSError, UnicodeError):
            return "", host  # the probe itself reports that it does not resolve
        addresses = [ipaddress.ip_address(str(info[4][0]).partition("%")[0]) for info in infos]
    for found in addresses:
        if not allowed(found, networks):
            return f"not contacted: {found} is outside allowed_networks", host
    if template.startswith("http:") and addresses:
        return "", str(addresses[0])
    return "", host


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
