"""The HTTP side of talking to Rocket.Chat: auth headers, login, timeouts, size cap.

Every failure becomes a PollError carrying one of the contract's reasons, with a message that names
the URL path and what to do, and never a header value or a secret.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import random
import ssl
import time
import urllib.parse
from collections.abc import Callable
from typing import Any

from . import __version__
from .collectors.instances import PATH as INSTANCES_PATH
from .collectors.statistics import PARAMS as STATISTICS_PARAMS
from .collectors.statistics import PATH as STATISTICS_PATH
from .configmodel import PasswordAuth, TokenAuth, WorkspaceConfig
from .httpclient import ConnectFailed, ConnectionLost, HttpClient, Limiter, Target
from .parse import ParseError, error_code, parse_login
from .rcerrors import PollError, Response, remaining, reset_seconds
from .secretfiles import SecretFileError, read_secret
from .units import backoff

__all__ = ["INSTANCES_PATH", "STATISTICS_PARAMS", "STATISTICS_PATH", "RocketChatClient"]

USER_AGENT = f"rocketchat-prometheus-exporter/{__version__}"
LOGIN_PATH = "/api/v1/login"
MAX_CACHED_URLS = 32  # per workspace: its few fixed request URLs, with room to spare
_ACCEPT = "Accept: application/json\r\n"
_COMMON = f"User-Agent: {USER_AGENT}\r\nAccept-Encoding: gzip, deflate\r\n"  # within the cap


def _secret_problem(exc: OSError | SecretFileError) -> str:
    """What is wrong with a secret file, without its name or content."""
    if isinstance(exc, OSError):
        return f"cannot be read: {exc.strerror or 'error'}"
    return str(exc)


def make_ssl_context(workspace: WorkspaceConfig) -> ssl.SSLContext:
    """The TLS settings of one workspace (used for https URLs only)."""
    tls = workspace.tls
    if tls.insecure_skip_verify:
        return _unverified_context()
    if tls.ca_file is None:
        return _system_context()
    path = str(tls.ca_file)
    try:
        stat = os.stat(path)
    except OSError:
        return ssl.create_default_context(cafile=path)  # raises the same error, clearly
    return _ca_context(os.path.realpath(path), stat.st_mtime_ns, stat.st_size)


@functools.cache
def _system_context() -> ssl.SSLContext:
    """The system's trusted CAs, loaded once, at the first https workspace."""
    return ssl.create_default_context()


@functools.cache
def _unverified_context() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


@functools.lru_cache(maxsize=64)
def _ca_context(path: str, mtime_ns: int, size: int) -> ssl.SSLContext:
    """One context per CA file (and version of it): a fleet often shares one ca_file, and each
    context holds the parsed certificates (10 000 workspaces would load it 10 000 times, at
    start-up and at every reload). A changed file is a new key: reloads pick it up."""
    return ssl.create_default_context(cafile=path)


class RocketChatClient:
    """One workspace's view of the shared HTTP client, with its credentials."""

    __slots__ = (  # one per workspace: no instance dict (0.4 KB each)
        "_auth_generation",
        "_base",
        "_login_lock",
        "_token",
        "_urls",
        "_user_id",
        "http",
        "login_error",
        "login_failures",
        "login_not_before",
        "max_response_bytes",
        "on_login",
        "semaphore",
        "workspace",
    )

    def __init__(
        self,
        http: HttpClient,
        semaphore: Limiter,
        workspace: WorkspaceConfig,
        max_response_bytes: int,
        on_login: Callable[[bool, float, float], None] | None = None,
    ) -> None:
        self.http = http
        self.on_login = on_login
        self.semaphore = semaphore
        self.workspace = workspace
        self.max_response_bytes = max_response_bytes
        self._base: Target | None = None  # the workspace's URL, parsed at the first request
        self._user_id = ""
        self._token = ""
        self._login_lock = asyncio.Lock()
        self._auth_generation = 0
        self.login_failures = 0
        self.login_not_before = 0.0
        self.login_error: PollError | None = None
        self._urls: dict[tuple[str, tuple[tuple[str, str], ...]], Target] = {}

    async def get(self, path: str, params: dict[str, str] | None = None) -> Response:
        """GET an API path with credentials; on 401 renew them once and retry."""
        generation = await self._ensure_credentials()
        try:
            return await self._request("GET", path, params=params, authenticated=True)
        except PollError as exc:
            if exc.reason != "unauthorized" or not await self._renew_credentials(generation):
                raise
        return await self._request("GET", path, params=params, authenticated=True)

    async def _ensure_credentials(self) -> int:
        if not self._token:
            await self._renew_credentials(self._auth_generation)
        return self._auth_generation

    async def _renew_credentials(self, seen_generation: int) -> bool:
        """Fresh credentials: re-read the token (file) or log in. False when nothing changed.

        One renewal per rejection: concurrent callers that saw the same generation share it.
        """
        async with self._login_lock:
            if self._auth_generation != seen_generation:
                return True  # another endpoint already renewed after the same rejection
            auth = self.workspace.auth
            if isinstance(auth, TokenAuth):
                try:
                    token = read_secret(auth.token, auth.token_file, header=True)
                except (OSError, SecretFileError) as exc:
                    self._token = ""  # read again at the next poll, when it may be fixed
                    raise PollError(
                        "unauthorized", f"token_file {_secret_problem(exc)}; fix it (it is re-read)"
                    ) from None
                changed = token != self._token
                self._user_id, self._token = auth.user_id, token
                if changed:
                    self._auth_generation += 1
                return changed
            await self._login(auth)
            self._auth_generation += 1
            return True

    async def _login(self, auth: PasswordAuth) -> None:
        now = time.time()
        if now < self.login_not_before and self.login_error is not None:
            # the same message as the failure itself, so it is logged once, not at every poll
            raise PollError(
                self.login_error.reason,
                self.login_error.message,
                error=self.login_error.error,
                source="skipped",
            )
        try:
            password = read_secret(auth.password, auth.password_file)
        except (OSError, SecretFileError) as exc:
            raise PollError(
                "unauthorized",
                f"password_file {_secret_problem(exc)}; fix it (it is re-read at every login)",
                source="skipped",
            ) from None
        started, t0 = time.time(), time.perf_counter()
        try:
            response = await self._request(
                "POST",
                LOGIN_PATH,
                json_body={"user": auth.username, "password": password},
                authenticated=False,
            )
            result = parse_login(response.body)
        except (PollError, ParseError) as exc:
            error = exc if isinstance(exc, PollError) else PollError("invalid_response", str(exc))
            if error.error == "totp-required":
                error = PollError(
                    error.reason,
                    "login requires two-factor authentication; use a personal access token "
                    "(auth.user_id + auth.token_file) for this workspace",
                    error=error.error,
                )
            if self.on_login is not None:
                self.on_login(False, started, time.perf_counter() - t0)
            self.login_failures += 1
            wait = backoff(self.login_failures, base=5.0)
            self.login_not_before = time.time() + wait * random.uniform(1.0, 1.2)
            self.login_error = PollError(
                error.reason,
                f"login failed: {error.message}; retrying with backoff (up to 5 min)",
                error=error.error,
                source="login",
            )
            raise self.login_error from None
        if self.on_login is not None:
            self.on_login(True, started, time.perf_counter() - t0)
        self.login_failures = 0
        self.login_error = None
        self._user_id, self._token = result.user_id, result.auth_token

    async def _request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        json_body: dict[str, str] | None = None,
        authenticated: bool,
    ) -> Response:
        headers = _ACCEPT + _COMMON
        if authenticated:
            headers += f"X-User-Id: {self._user_id}\r\nX-Auth-Token: {self._token}\r\n"
        body = b""
        if json_body is not None:
            body = json.dumps(json_body).encode()
            headers += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        status, resp_headers, raw = await self._exchange(
            method, self._url(path, params), path, headers, body
        )
        return self._interpret(path, status, resp_headers, raw)

    async def probe(self, url: str) -> tuple[int, bytes]:
        """GET a full URL without credentials (an instance's own health route): the status
        and the body, within the same timeout, concurrency and size caps as the API."""
        try:
            where = Target(url, self._tls(url))
        except ValueError:
            raise PollError(
                "invalid_response", "health: the instance's address is not a URL"
            ) from None
        shown = f"{where.host}:{where.port}{where.request_target.partition('?')[0]}"
        status, _, raw = await self._exchange("GET", where, shown, _COMMON, b"")
        return status, raw

    async def _exchange(
        self,
        method: str,
        target: Target,
        path: str,
        headers: str,
        body: bytes,
    ) -> tuple[int, dict[str, str], bytes]:
        """One request: (status, headers, body); every failure a PollError naming `path`."""
        async with self.semaphore:
            try:
                async with asyncio.timeout(self.workspace.timeout):
                    answer = await self.http.request(
                        target, method, headers, body, path, self.max_response_bytes
                    )
            except TimeoutError:
                raise PollError(
                    "timeout",
                    f"{path}: no answer within {self.workspace.timeout:g}s; check the server's "
                    "health, or raise timeout for this workspace",
                ) from None
            except ConnectFailed as exc:
                hint = _CONNECT_HINTS[exc.kind].format(detail=exc.detail)
                raise PollError("connection", f"{path}: {hint}") from None
            except (ConnectionLost, OSError) as exc:
                detail = exc.detail if isinstance(exc, ConnectionLost) else type(exc).__name__
                raise PollError(
                    "connection",
                    f"{path}: connection lost ({detail}); a proxy or the server "
                    "dropped it, retrying at the next poll",
                ) from None
        return answer.status, answer.headers, answer.body()

    def _tls(self, url: str) -> ssl.SSLContext | None:
        """The workspace's TLS settings for an https URL (contexts are shared: see
        make_ssl_context), None for http: an http fleet never loads the system's CAs."""
        if url[:6].lower() != "https:":
            return None
        try:
            return make_ssl_context(self.workspace)
        except (OSError, ssl.SSLError):  # a ca_file removed or broken since the config load
            raise PollError(
                "connection",
                "tls.ca_file cannot be read as PEM certificates; fix it (it is read again at "
                "the next poll)",
            ) from None

    def _url(self, path: str, params: dict[str, str] | None) -> Target:
        """Request URLs are few per workspace: the workspace's URL is parsed once, each path
        and query encoded once. A query that changes at every poll (omnichannel's `end`) must
        not grow the cache: it is bounded."""
        key = (path, tuple(sorted(params.items())) if params else ())
        target = self._urls.get(key)
        if target is None:
            base = self._base
            if base is None:
                url = self.workspace.url
                base = self._base = Target(url, self._tls(url))
            prefix = base.request_target.rstrip("/")
            query = f"?{_query(key[1])}" if params else ""
            if len(self._urls) >= MAX_CACHED_URLS:
                self._urls.clear()
            target = self._urls[key] = base.beside(prefix + path + query)
        return target

    def _interpret(self, path: str, status: int, headers: Any, raw: bytes) -> Response:
        body: Any = None
        try:
            body = json.loads(raw)
            is_json = True
        except (ValueError, RecursionError):  # RecursionError: absurdly deep nesting
            is_json = False
        code = error_code(body)
        if status == 200:
            if not is_json:
                raise PollError(
                    "invalid_response",
                    f"{path}: answer is not JSON (a proxy or login page?); check the url",
                )
            return Response(body, remaining(headers), reset_seconds(headers))
        if status == 429 or code.endswith("[error-too-many-requests]"):
            retry_at = reset_seconds(headers)
            hint = "grant the exporter's user api-bypass-rate-limit or poll less often"
            raise PollError("rate_limited", f"{path}: rate limited; {hint}", retry_at=retry_at)
        if status == 401:
            what = (
                "rejected the credentials; check user_id and the token (or token_file)"
                if path != LOGIN_PATH
                else "refused the login; check username and password"
            )
            raise PollError("unauthorized", f"{path}: HTTP 401, the server {what}", error=code)
        if status == 403 or (status == 400 and code == "error-not-allowed"):
            raise PollError(
                "forbidden",
                f"{path}: HTTP {status}, the user lacks the view-statistics permission",
                error=code,
            )
        if 300 <= status < 400:
            raise PollError(
                "invalid_response",
                f"{path}: HTTP {status} redirect; set url to the final address of the server",
            )
        if 400 <= status < 500:
            raise PollError(
                "http_4xx",
                f"{path}: HTTP {status}; check url (and its path prefix)",
                error=code,
                status=status,
            )
        if status >= 500:
            raise PollError(
                "http_5xx",
                f"{path}: HTTP {status}; the server or its proxy is failing, see their logs",
            )
        raise PollError("invalid_response", f"{path}: unexpected HTTP {status}")


@functools.lru_cache(maxsize=256)
def _query(params: tuple[tuple[str, str], ...]) -> str:
    """A query string, encoded once for every workspace that sends the same parameters
    (statistics.list's sort and count); varying ones (omnichannel's `end`) just rotate out."""
    return urllib.parse.urlencode(params, quote_via=urllib.parse.quote)


_CONNECT_HINTS = {  # by ConnectFailed.kind
    "certificate": "TLS certificate not trusted; set tls.ca_file for this workspace",
    "dns": "host name does not resolve; check url and DNS",
    "tls": "TLS handshake failed; check the server's TLS setup",
    "os": "cannot connect: {detail}; check url and firewalls",
}


def new_http_client(max_concurrency: int) -> HttpClient:
    """The one shared client: keep-alive connections, at most twice max_concurrency idle."""
    return HttpClient(max_idle=2 * max_concurrency)
