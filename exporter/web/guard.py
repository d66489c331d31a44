"""Middlewares of --web-config: rate limit, client certificate SANs, basic auth, extra headers.

Order as in exporter-toolkit: the rate limit first (429), then who the client is. Nothing a
client sends here can slow what an authorized scraper gets: bcrypt runs in its own single
thread, with a bounded number of checks waiting; /metrics is rendered elsewhere.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol

import aiohttp
import bcrypt
from aiohttp import web

from exporter.web.tlsconfig import san_values
from exporter.web.webconfig import RateLimit, WebConfig

log = logging.getLogger("exporter.web")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
UNPROTECTED_PATHS = frozenset({"/healthz"})
REALM = "rocketchat-exporter"


class AuthCounter(Protocol):
    """Where basic-auth failures are counted (the State)."""

    auth_failures: int | None

    def record_auth_failure(self) -> None: ...


def parse_basic_auth(header: str) -> tuple[str, str] | None:
    """(user, password) from an `Authorization: Basic ...` header (aiohttp's decoder, UTF-8 as
    RFC 7617's charset says), None if there is none or it is malformed or oversized."""
    if not header or len(header) > 4096:
        return None
    try:
        credentials = aiohttp.BasicAuth.decode(header.strip(), encoding="utf-8")
    except ValueError:  # the scheme, base64, UTF-8 or a missing ":" (Unicode errors included)
        return None
    return credentials.login, credentials.password


class TokenBucket:
    """golang.org/x/time/rate's Limiter as the toolkit uses it: starts full with `burst`
    tokens, gains one every `interval`, a request without a token is refused."""

    def __init__(self, limit: RateLimit) -> None:
        self.interval, self.burst = limit.interval, limit.burst
        self.tokens = float(limit.burst)
        self.updated = time.monotonic()

    def allow(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.updated) / self.interval)
        self.updated = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


class BasicAuthGuard:
    """Checks basic auth on every path but /healthz; every failure is counted at once.

    bcrypt is slow on purpose (tens to hundreds of milliseconds): checks run one at a time in
    the guard's own thread, at most MAX_PENDING wait, and a client arriving when the queue is
    full is refused at once (429, counted). A verified (user, password) pair is remembered by
    its SHA-256, so a scrape every few seconds does not pay for bcrypt.
    """

    MAX_PENDING = 8
    MAX_REMEMBERED = 1024

    def __init__(self, users: dict[str, bytes], state: AuthCounter) -> None:
        self.users = users
        self.state = state
        state.auth_failures = 0
        self._verified: OrderedDict[bytes, None] = OrderedDict()
        self._pending = 0
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="bcrypt")
        # a hash of a random password with the users' cost: checked for unknown names, so a
        # wrong name costs as much time as a wrong password and timing reveals no user names
        rounds = int(next(iter(users.values())).split(b"$")[2]) if users else 10
        self._dummy = bcrypt.hashpw(secrets.token_bytes(16), bcrypt.gensalt(rounds=rounds))

    def _check(self, name: str, password: str) -> bool:
        hashed = self.users.get(name)
        try:
            ok = bcrypt.checkpw(password.encode(), hashed or self._dummy)
        except ValueError:
            ok = False
        return ok and hashed is not None

    async def verdict(self, request: web.Request) -> bool | None:
        """True: allowed; False: wrong or missing credentials; None: too many checks queued."""
        credentials = parse_basic_auth(request.headers.get("Authorization", ""))
        if credentials is None:
            return False
        key = hashlib.sha256("\0".join(credentials).encode("utf-8", "surrogatepass")).digest()
        if key in self._verified:
            self._verified.move_to_end(key)
            return True
        if self._pending >= self.MAX_PENDING:
            return None
        self._pending += 1
        try:
            loop = asyncio.get_running_loop()
            ok = await loop.run_in_executor(self._executor, self._check, *credentials)
        finally:
            self._pending -= 1
        if ok:
            self._verified[key] = None
            if len(self._verified) > self.MAX_REMEMBERED:
                self._verified.popitem(last=False)
        return ok

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path in UNPROTECTED_PATHS:
            return await handler(request)
        verdict = await self.verdict(request)
        if verdict:
            return await handler(request)
        self.state.record_auth_failure()
        if verdict is None:
            return web.Response(
                status=429, text="429 Too Many Requests\n", headers={"Retry-After": "1"}
            )
        return web.Response(
            status=401,
            text="401 Unauthorized\n",
            headers={"WWW-Authenticate": f'Basic realm="{REALM}", charset="UTF-8"'},
        )

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


class WebGuard:
    """Everything --web-config asks of each request, in the toolkit's order (rate limit, client
    certificate SANs, basic auth) plus the extra headers, read from the current web config so a
    reload (SIGHUP) applies to the next request."""

    def __init__(self, web_config: WebConfig, state: AuthCounter) -> None:
        self.state = state
        self.config = WebConfig()
        self.bucket: TokenBucket | None = None
        self.auth: BasicAuthGuard | None = None
        self.update(web_config)

    def update(self, web_config: WebConfig) -> None:
        if web_config.rate_limit != self.config.rate_limit:
            limit = web_config.rate_limit
            self.bucket = TokenBucket(limit) if limit is not None else None
        if web_config.users != self.config.users:
            if self.auth is not None:
                self.auth.close()
            self.auth = BasicAuthGuard(web_config.users, self.state) if web_config.users else None
        self.config = web_config

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if self.bucket is not None and not self.bucket.allow():
            return web.Response(status=429, text="Too Many Requests\n")
        wanted = self.config.allowed_sans
        if wanted is not None:
            transport = request.transport
            peercert = transport.get_extra_info("peercert") if transport is not None else None
            if set(wanted).isdisjoint(san_values(peercert)):
                # Go refuses such a client in the handshake; Python's ssl has no hook there
                response = web.Response(
                    status=403, text="403 Forbidden: client certificate has no allowed SAN\n"
                )
                response.force_close()
                return response
        if self.auth is not None:
            return await self.auth.middleware(request, handler)
        return await handler(request)

    async def on_prepare(self, request: web.Request, response: web.StreamResponse) -> None:
        """http_server_config.headers, on every answer."""
        if self.config.headers:
            response.headers.update(self.config.headers)

    def close(self) -> None:
        if self.auth is not None:
            self.auth.close()
