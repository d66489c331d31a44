"""Requests to Rocket.Chat over aiohttp's client, within the exporter's caps.

Why aiohttp and not a client of our own: proxies (HTTPS_PROXY, NO_PROXY: env_proxy), Happy
Eyeballs, a C parser and years of fixes. What this module adds around it, because a
poller must not trust what it talks to: no redirect is followed (credentials never leave the
configured host), the body is capped as received and as decompressed (inflate.Inflater: a
gzip bomb costs at most the cap), heads are bounded (aiohttp's line, field and header-count
limits), and every failure becomes a PollError with one of the contract's reasons and a hint
that names no secret. aiohttp retries an idempotent request once on a new connection when a
kept one turns out closed.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import os
import ssl
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
from multidict import CIMultiDictProxy
from yarl import URL

from exporter.model.config import WorkspaceConfig
from exporter.rocketchat.errors import PollError
from exporter.rocketchat.inflate import Inflater

KEEPALIVE_SECONDS = 15.0  # an idle kept connection is closed after this
DNS_TTL_SECONDS = 300
READ_CHUNK = 64 * 1024

# a TLS setting: True (the system's CAs), False (no verification) or a context of a ca_file
TlsSetting = bool | ssl.SSLContext


@dataclass(frozen=True, slots=True)
class Answer:
    """What came back: the status, the headers, the (decompressed) body."""

    status: int
    headers: CIMultiDictProxy[str]
    body: bytes


@dataclass(frozen=True, slots=True)
class Target:
    """Where a collector connects: `base` names the exact address the fence checked (so no
    second lookup can rebind it); `name` is the host as the answer gave it, kept for TLS (SNI
    and the certificate's check) and the Host header, None when the answer gave an address."""

    base: str
    name: str | None = None
    host_header: str | None = None


def tls_setting(workspace: WorkspaceConfig) -> TlsSetting:
    """The workspace's TLS setting (used for https URLs only). Contexts of the same ca_file
    are shared: a fleet often has one, and each context holds the parsed certificates."""
    tls = workspace.tls
    if tls.insecure_skip_verify:
        return False
    if tls.ca_file is None:
        return True
    path = str(tls.ca_file)
    try:
        stat = os.stat(path)
    except OSError:
        return ssl.create_default_context(cafile=path)  # raises the same error, clearly
    return _ca_context(os.path.realpath(path), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=64)
def _ca_context(path: str, mtime_ns: int, size: int) -> ssl.SSLContext:
    """One context per CA file and version of it (a changed file is a new key: reloads see it)."""
    return ssl.create_default_context(cafile=path)


def shares(max_concurrency: int) -> tuple[int, int, int]:
    """How the max_concurrency slots are shared, so that nobody can hold all of them: (API
    requests of one workspace, probes of instances' own addresses in all, probes of one
    workspace). Probes (health) have a budget of their own, half as large: a workspace whose
    instances accept and never answer fills only its share of it."""
    probes = max(2, max_concurrency // 2)
    return max(2, max_concurrency // 4), probes, max(1, probes // 4)


# urllib's NO_PROXY matching of names (curl's: suffixes, a leading dot, `*`); typeshed does not
# list it. Addresses and CIDR ranges, and trailing dots, are read by no_proxy_bypass first.
_bypass: Callable[[str, dict[str, str]], bool] = urllib.request.proxy_bypass_environment  # type: ignore[attr-defined]


def no_proxy_bypass(host: str, no_proxy: str) -> bool:
    """Whether NO_PROXY lists `host`, as curl reads it: `*`; names, with or without a leading
    dot, matching the name and its subdomains; IPv4 and IPv6 addresses and CIDR ranges
    (10.0.0.0/8, fd00::/8; an address matches its IPv4-mapped form too); a trailing dot
    ignored in the host and in the entries. Entries are separated by commas or spaces."""
    host = host.strip("[]").rstrip(".").lower()
    try:
        ip: ipaddress.IPv4Address | ipaddress.IPv6Address | None = ipaddress.ip_address(host)
    except ValueError:
        ip = None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    names = []
    for entry in no_proxy.replace(" ", ",").split(","):
        entry = entry.strip().lower()
        if not entry:
            continue
        if entry == "*":
            return True
        try:
            network = ipaddress.ip_network(entry.strip("[]"), strict=False)
        except ValueError:
            name, colon, port = entry.rpartition(":")
            if colon and port.isdigit() and name and ":" not in name:
                names.append(f"{name.rstrip('.')}:{port}")
            else:
                names.append(entry.rstrip("."))
            continue
        if ip is not None and ip.version == network.version and ip in network:
            return True
    return bool(names) and _bypass(host, {"no": ",".join(names)})


def env_proxy(url: URL, proxies: dict[str, str]) -> tuple[str, str] | None:
    """The proxy `proxies` (the environment's, urllib.request.getproxies_environment) name for
    `url`, and the variable that named it: HTTPS_PROXY/HTTP_PROXY by scheme (either case),
    none for a host NO_PROXY lists (no_proxy_bypass). Looked up once per workspace, not
    through aiohttp's trust_env: that asks a worker thread twice per request (proxy, and
    ~/.netrc for credentials the exporter must not send)."""
    if url.host is None or no_proxy_bypass(url.host, proxies.get("no", "")):
        return None
    proxy = proxies.get(url.scheme)
    return None if proxy is None else (proxy, f"{url.scheme.upper()}_PROXY")


class Sessions:
    """The aiohttp sessions every workspace shares: one per TLS setting. Requests to the API
    in flight across all workspaces are bounded by `semaphore` (max_concurrency), probes of
    instances' own addresses by `probes` (see shares)."""

    def __init__(self, max_concurrency: int) -> None:
        self.max_concurrency = max_concurrency
        self.workspace_share, probes, self.workspace_probe_share = shares(max_concurrency)
        self.semaphore = asyncio.Semaphore(max_concurrency)
        self.probes = asyncio.Semaphore(probes)
        # the environment's proxies, read once (a reload makes new Sessions, and reads again)
        self.env_proxies = urllib.request.getproxies_environment()
        self._sessions: dict[int, tuple[TlsSetting, aiohttp.ClientSession]] = {}
        self.closed = False

    def session(self, tls: TlsSetting) -> aiohttp.ClientSession:
        key = id(tls)  # True and False are singletons; a context is kept below
        found = self._sessions.get(key)
        if found is not None:
            return found[1]
        connector = aiohttp.TCPConnector(
            ssl=tls,
            limit=0,  # the semaphore bounds requests in flight, across sessions
            ttl_dns_cache=DNS_TTL_SECONDS,
            keepalive_timeout=KEEPALIVE_SECONDS,
        )
        session = aiohttp.ClientSession(
            connector=connector,
            trust_env=False,  # proxies: env_proxy, once per workspace; no ~/.netrc
            auto_decompress=False,  # inflate.Inflater decompresses within the cap
            timeout=aiohttp.ClientTimeout(total=None),  # the caller's asyncio.timeout bounds it
            cookie_jar=aiohttp.DummyCookieJar(),  # no session state between polls
            raise_for_status=False,
        )
        self._sessions[key] = (tls, session)  # the setting is kept: its id stays unique
        return session

    async def close(self) -> None:
        self.closed = True
        sessions = [session for _, session in self._sessions.values()]
        self._sessions.clear()
        for session in sessions:
            await session.close()


async def exchange(
    session: aiohttp.ClientSession,
    method: str,
    url: URL,
    shown: str,
    limit: int,
    *,
    headers: dict[str, str],
    body: bytes | None = None,
    proxy: str | None = None,
    proxy_source: str = "",
    ca_file_set: bool = False,
    server_hostname: str | None = None,
) -> Answer:
    """One request; every failure a PollError naming `shown` (the path, never a secret).
    The caller bounds the time (asyncio.timeout) and the concurrency."""
    try:
        async with session.request(
            method,
            url,
            headers=headers,
            data=body,
            allow_redirects=False,
            proxy=proxy,
            server_hostname=server_hostname if url.scheme == "https" else None,
        ) as resp:
            return Answer(resp.status, resp.headers, await _read_capped(resp, shown, limit))
    except aiohttp.ClientError as exc:
        raise _failure(exc, shown, ca_file_set, proxy_source) from None
    except ValueError:  # yarl or aiohttp refusing a URL or header value
        raise PollError("invalid_response", f"{shown}: the URL cannot be requested") from None


async def _read_capped(resp: aiohttp.ClientResponse, shown: str, limit: int) -> bytes:
    """The body, refused as too_large past `limit` bytes received or decompressed."""
    inflater = Inflater(resp.headers.get("Content-Encoding", ""), shown, limit)
    length = resp.content_length
    if length is not None:  # the usual answer: its length known, aiohttp stops there
        if length > limit:
            raise inflater.too_large()
        return inflater.feed(await resp.read()) + inflater.finish()
    received = 0
    out: list[bytes] = []
    async for chunk in resp.content.iter_chunked(READ_CHUNK):
        received += len(chunk)
        if received > limit:
            raise inflater.too_large()
        out.append(inflater.feed(chunk))
    out.append(inflater.finish())
    return out[0] if len(out) == 1 else b"".join(out)


def _failure(
    exc: aiohttp.ClientError, shown: str, ca_file_set: bool, proxy_source: str = ""
) -> PollError:
    """The contract's reason for an aiohttp error, with what to do about it (a proxy's failure
    names the setting that chose the proxy: proxy_url, HTTPS_PROXY or HTTP_PROXY)."""
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        why = getattr(exc.certificate_error, "verify_message", "") or "not trusted"
        fix = (
            "check the server's certificate (expired? issued for another host?) and tls.ca_file"
            if ca_file_set
            else "set tls.ca_file for this workspace if its CA is a private one"
        )
        return PollError("connection", f"{shown}: TLS certificate rejected ({why}); {fix}")
    if isinstance(exc, aiohttp.ClientProxyConnectionError):
        return PollError(
            "connection",
            f"{shown}: cannot connect to the proxy; check {proxy_source or 'the proxy setting'}",
        )
    if isinstance(exc, aiohttp.ClientHttpProxyError):
        return proxy_refusal(shown, exc.status, proxy_source)
    if isinstance(exc, aiohttp.ClientConnectorSSLError | aiohttp.ClientSSLError):
        reason = getattr(exc.os_error, "reason", None) or "no reason given"
        return PollError(
            "connection",
            f"{shown}: TLS handshake failed ({_short(reason)}); check the server's TLS (and "
            "that the url's port speaks https)",
        )
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return PollError("connection", f"{shown}: host name does not resolve; check url and DNS")
    if isinstance(exc, aiohttp.ClientConnectorError):
        detail = exc.os_error.strerror or type(exc.os_error).__name__
        return PollError("connection", f"{shown}: cannot connect: {detail}; check url, firewalls")
    if isinstance(exc, aiohttp.ClientResponseError):  # the answer is not valid HTTP
        return PollError(
            "invalid_response",
            f"{shown}: not a valid HTTP answer ({_short(exc.message)}); check url (the port "
            "of a non-HTTP service?) and any proxy",
        )
    if isinstance(exc, aiohttp.InvalidURL):
        return PollError("invalid_response", f"{shown}: the URL cannot be requested")
    detail = "closed" if isinstance(exc, aiohttp.ServerDisconnectedError) else type(exc).__name__
    return PollError(
        "connection",
        f"{shown}: connection lost ({detail}); a proxy or the server dropped it, retrying at "
        "the next poll",
    )


def proxy_refusal(shown: str, status: int, proxy_source: str) -> PollError:
    """A proxy's refusal: 407 (it wants credentials) or another status of the proxy's own,
    naming the setting that chose the proxy."""
    where = proxy_source or "the proxy setting"
    if status == 407:
        fix = f"put the proxy's user and password in {where} (http://user:password@host:port)"
        return PollError("connection", f"{shown}: the proxy asks for credentials (HTTP 407); {fix}")
    return PollError(
        "connection",
        f"{shown}: the proxy refused the connection (HTTP {status}); check the proxy named by "
        f"{where}, or add the host to NO_PROXY",
    )


def _short(message: Any) -> str:
    """aiohttp's parser message, without the bytes it quotes from the answer (hostile input)."""
    text = str(message).split(";", 1)[0].split(":", 1)[0]
    return "".join(c for c in text if c.isprintable())[:80] or "malformed"
