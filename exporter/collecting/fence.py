"""Where the collectors that connect to each instance (health, links) may go: the address an
answer names, made into a URL only from plain host and port values, and checked against the
workspace's allowed_networks before any connection."""

from __future__ import annotations

import asyncio
import ipaddress
import re
from collections.abc import Awaitable
from socket import SOCK_STREAM
from typing import Any, TypeVar
from urllib.parse import urlsplit

from exporter.collecting.base import Option, Report
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


DEFAULT_ADDRESS = "http://{host}:{port}"
MAX_NETWORKS = 256


def read_address_template(value: Any, report: Report) -> str | None:
    """Where a collector asks each instance, e.g. https://{host}:{port}."""
    where = "address_template"
    if not isinstance(value, str) or not value or len(value) > 2048:
        report(where, 'must be a URL template such as "http://{host}:{port}"')
        return None
    try:
        sample = value.format(host="host.example", port="3000")
    except (KeyError, IndexError, ValueError):
        report(where, "may only use {host} and {port} as placeholders")
        return None
    parts = urlsplit(sample)
    if (
        "{host}" not in value
        or parts.scheme not in ("http", "https")
        or not parts.hostname
        or "@" in parts.netloc
        or parts.query
        or parts.fragment
    ):
        report(
            where,
            "must be an http(s) URL with {host} (and usually {port}), without "
            "user:password@, query or fragment",
        )
        return None
    return value.rstrip("/")


def read_networks(value: Any, report: Report) -> tuple[IPNetwork, ...] | None:
    """allowed_networks: CIDRs (10.0.0.0/8, fd00::/8, or one address) that the collectors
    connecting to addresses from the server's answers may connect to."""
    where = "allowed_networks"
    if not isinstance(value, list) or len(value) > MAX_NETWORKS:
        report(where, f"must be a list of at most {MAX_NETWORKS} CIDRs, e.g. [10.0.0.0/8]")
        return None
    found = []
    for index, item in enumerate(value):
        try:
            found.append(ipaddress.ip_network(str(item), strict=False))
        except ValueError:
            report(f"{where}[{index}]", "is not a CIDR like 10.0.0.0/8 or fd00::/8")
    return tuple(found)


def address_option(collector: str) -> Option[str]:
    return Option(collector, "address_template", DEFAULT_ADDRESS, read_address_template)


def networks_option(collector: str) -> Option[tuple[IPNetwork, ...] | None]:
    """None (the default): any address but FENCED_BY_DEFAULT."""
    return Option(collector, "allowed_networks", None, read_networks)
