"""The HTTP side of talking to Rocket.Chat: auth headers, login, timeouts, size cap.

Every failure becomes a PollError carrying one of the contract's reasons, with a message that names
the URL path and what to do, and never a header value or a secret.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import ssl
import time
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from yarl import URL

from exporter import __version__
from exporter.model.config import PasswordAuth, TokenAuth, WorkspaceConfig
from exporter.model.secrets import SecretFileError, read_secret
from exporter.model.units import backoff
from exporter.rocketchat.errors import PollError, Response, remaining, reset_seconds
from exporter.rocketchat.transport import (
    Answer,
    Sessions,
    Target,
    TlsSetting,
    env_proxy,
    exchange,
    proxy_refusal,
    tls_setting,
)
from exporter.rocketchat.values import ParseError, error_code, parse_login

USER_AGENT = f"rocketchat-prometheus-exporter/{__version__}"
LOGIN_PATH = "/api/v1/login"
# set (in its own task) for an endpoint's first poll: its wait for a request slot does not count
# in the timeout. A fleet's first round starts everything at once, and a first poll has no
# previous result to be late on; every later poll's wait does count, so that its result lands
# within poll_interval + timeout whatever the others do
FIRST_POLL: ContextVar[bool] = ContextVar("first_poll", default=False)
PROBE_MAX_BYTES = 64 * 1024  # an instance's own health answer, as received and decompressed
# gzip and deflate only: inflate.Inflater undoes them within the size cap
_COMMON = {"User-Agent": USER_AGENT, "Accept-Encoding": "gzip, deflate"}


def _secret_problem(exc: OSError | SecretFileError, file: Path | None) -> str:
    """What is wrong with a secret file: its path (from the config, not a secret) and the
    problem, never its content."""
    where = f"{file} " if file is not None else ""
    if isinstance(exc, OSError):
        return f"{where}cannot be read: {exc.strerror or 'error'}"
    return f"{where}{exc}"


class RocketChatClient:
    """One workspace's view of the shared HTTP client, with its credentials."""

    __slots__ = (  # one per workspace: no instance dict
        "_auth_generation",
        "_failed_password",
        "_headers",
        "_login_lock",
        "_probe_share",
        "_proxy",
        "_proxy_source",
        "_share",
        "_token",
        "_user_id",
        "login_error",
        "login_failures",
        "login_not_before",
        "max_response_bytes",
        "on_login",
        "sessions",
        "workspace",
    )

    def __init__(
        self,
        sessions: Sessions,
        workspace: WorkspaceConfig,
        max_response_bytes: int,
        on_login: Callable[[bool, float, float], None] | None = None,
    ) -> None:
        self.sessions = sessions
        self._share = asyncio.Semaphore(sessions.workspace_share)  # its requests in flight
        self._probe_share = asyncio.Semaphore(sessions.workspace_probe_share)
        # the workspace's proxy_url, else the one the environment names for its URL
        configured = workspace.proxy_url
        chosen = (
            (configured.reveal(), "proxy_url")
            if configured is not None
            else env_proxy(URL(workspace.url), sessions.env_proxies)
        )
        self._proxy: str | None = chosen[0] if chosen else None
        self._proxy_source = chosen[1] if chosen else ""  # which setting named the proxy
        self.on_login = on_login
        self.workspace = workspace
        self.max_response_bytes = max_response_bytes
        self._user_id = ""
        self._token = ""
        self._headers: dict[str, str] = {}  # with the credentials, made when they change
        self._login_lock = asyncio.Lock()
        self._auth_generation = 0
        self.login_failures = 0
        self.login_not_before = 0.0
        self.login_error: PollError | None = None
        self._failed_password = b""  # sha256 of the password the last failed login used

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
                    problem = _secret_problem(exc, auth.token_file)
                    raise PollError(
                        "unauthorized", f"token_file {problem}; fix it (it is re-read at every try)"
                    ) from None
                changed = token != self._token
                self._set_credentials(auth.user_id, token)
                if changed:
                    self._auth_generation += 1
                return changed
            await self._login(auth)
            self._auth_generation += 1
            return True

    async def _login(self, auth: PasswordAuth) -> None:
        try:
            password = read_secret(auth.password, auth.password_file)
        except (OSError, SecretFileError) as exc:
            raise PollError(
                "unauthorized",
                f"password_file {_secret_problem(exc, auth.password_file)}; fix it "
                "(it is re-read at every try)",
                source="skipped",
            ) from None
        # a digest, not the password: whether the file changed since the failed login
        tried = hashlib.sha256(password.encode()).digest()
        if (
            time.time() < self.login_not_before
            and self.login_error is not None
            and tried == self._failed_password
        ):
            # the same message as the failure itself, so it is logged once, not at every poll
            raise PollError(
                self.login_error.reason,
                self.login_error.message,
                error=self.login_error.error,
                source="skipped",
            )
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
            self._failed_password = tried
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
        self._failed_password = b""
        self._set_credentials(result.user_id, result.auth_token)

    def _set_credentials(self, user_id: str, token: str) -> None:
        self._user_id, self._token = user_id, token
        self._headers = {
            **_COMMON,
            "Accept": "application/json",
            "X-User-Id": user_id,
            "X-Auth-Token": token,
        }

    async def _request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        json_body: dict[str, str] | None = None,
        authenticated: bool,
    ) -> Response:
        body = None
        headers = self._headers if authenticated else {**_COMMON, "Accept": "application/json"}
        if json_body is not None:
            body = json.dumps(json_body).encode()
            headers = {**headers, "Content-Type": "application/json"}
        url = self._url(path, params)
        answer = await self._exchange(method, url, path, headers, body, direct=False)
        if answer.status == 407 and self._proxy is not None:  # the proxy's, not the server's
            raise proxy_refusal(path, 407, self._proxy_source)
        return self._interpret(path, answer.status, answer.headers, answer.body, url)

    async def probe(self, target: Target, path: str) -> tuple[int, bytes]:
        """GET a path at an instance's own address (its health route) without credentials,
        straight to the address the fence checked (no proxy, no second lookup): the status and
        the body, within the workspace's timeout, the probes' concurrency budget and
        PROBE_MAX_BYTES (real answers are a few hundred bytes: a thousand instances answering
        big bodies must not take the exporter's memory)."""
        where, shown, headers = self._at(target, path, "health", _COMMON)
        answer = await self._exchange(
            "GET", where, shown, headers, None, direct=True, limit=PROBE_MAX_BYTES, target=target
        )
        return answer.status, answer.body

    async def get_at(self, target: Target, path: str) -> Response:
        """GET an API path at one instance's own address (the links collector), with the
        workspace's credentials, as probe does. The caller has checked `target` against
        allowed_networks, and the connection goes to that address only: credentials go nowhere
        else."""
        await self._ensure_credentials()
        where, shown, headers = self._at(target, path, "links", self._headers)
        answer = await self._exchange(
            "GET", where, shown, headers, None, direct=True, limit=PROBE_MAX_BYTES, target=target
        )
        return self._interpret(shown, answer.status, answer.headers, answer.body)

    @staticmethod
    def _at(
        target: Target, path: str, collector: str, headers: dict[str, str]
    ) -> tuple[URL, str, dict[str, str]]:
        """The URL at the checked address, how errors name it (the instance's own host), and
        the headers (Host: the name the answer gave, for virtual hosts behind the address)."""
        try:
            where = URL(target.base + path)
            if where.scheme not in ("http", "https") or not where.raw_host:
                raise ValueError(target.base)
        except ValueError:
            raise PollError(
                "invalid_response", f"{collector}: the instance's address is not a URL"
            ) from None
        shown = f"{target.name or where.raw_host}:{where.port}{where.raw_path}"
        if target.host_header is not None:
            headers = {**headers, "Host": target.host_header}
        return where, shown, headers

    async def _exchange(
        self,
        method: str,
        url: URL,
        shown: str,
        headers: dict[str, str],
        body: bytes | None,
        *,
        direct: bool,
        limit: int | None = None,
        target: Target | None = None,
    ) -> Answer:
        """One request within the workspace's timeout, which counts the wait for a slot too:
        this workspace's share of them, then the fleet's (the API's, or the probes' for
        `direct`); every failure a PollError naming `shown`."""
        session = self.sessions.session(self._tls(url))
        proxy = None if direct else self._proxy
        share, fleet = (
            (self._probe_share, self.sessions.probes)
            if direct
            else (self._share, self.sessions.semaphore)
        )

        def send() -> Awaitable[Answer]:
            return exchange(
                session,
                method,
                url,
                shown,
                self.max_response_bytes if limit is None else limit,
                headers=headers,
                body=body,
                proxy=proxy,
                proxy_source=self._proxy_source,
                ca_file_set=self.workspace.tls.ca_file is not None,
                server_hostname=None if target is None else target.name,
            )

        started = False  # a slot was free in time and the request went out
        try:
            if FIRST_POLL.get():  # the wait for a slot is not timed (see FIRST_POLL)
                async with share, fleet, asyncio.timeout(self.workspace.timeout):
                    started = True
                    return await send()
            async with asyncio.timeout(self.workspace.timeout), share, fleet:
                started = True
                return await send()
        except TimeoutError:
            timeout = self.workspace.timeout
            if not started:
                raise PollError(
                    "timeout",
                    f"{shown}: no free request slot within {timeout:g}s (max_concurrency is "
                    f"{self.sessions.max_concurrency} across all workspaces); raise "
                    "max_concurrency, or poll less often",
                ) from None
            raise PollError(
                "timeout",
                f"{shown}: no answer within {timeout:g}s; check the server's health, or raise "
                "timeout for this workspace",
            ) from None

    def _tls(self, url: URL) -> TlsSetting:
        """The workspace's TLS setting for an https URL (contexts are shared: see
        transport.tls_setting); http URLs share the system setting's session."""
        if url.scheme != "https":
            return True
        try:
            return tls_setting(self.workspace)
        except (OSError, ssl.SSLError):  # a ca_file removed or broken since the config load
            raise PollError(
                "connection",
                "tls.ca_file cannot be read as PEM certificates; fix it (it is read again at "
                "the next poll)",
            ) from None

    def _url(self, path: str, params: dict[str, str] | None) -> URL:
        """Built at each request (~4 us), not cached: a yarl URL keeps its parsed parts, ~0.8
        KiB per URL, and every workspace has its own (16 MiB at 10 000 workspaces)."""
        url = URL(self.workspace.url + path)
        return url.with_query(sorted(params.items())) if params else url

    def _interpret(
        self, path: str, status: int, headers: Any, raw: bytes, url: URL | None = None
    ) -> Response:
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
            raise PollError(  # which permission: the collector's (collecting/outcome.py)
                "forbidden",
                f"{path}: HTTP {status}, the exporter's user lacks a permission",
                error=code,
                status=status,
            )
        if 300 <= status < 400:
            raise PollError(
                "invalid_response",
                f"{path}: HTTP {status} redirect; set url to the final address of the server",
            )
        if 400 <= status < 500:
            # the whole address asked (never its user:password or query): a doubled /api/v1
            # or a missing path prefix shows at a glance
            asked = f" at {url.with_user(None).with_query(None)}" if url is not None else ""
            raise PollError(
                "http_4xx",
                f"{path}: HTTP {status}{asked}; check url (and its path prefix)",
                error=code,
                status=status,
            )
        if status >= 500:
            raise PollError(
                "http_5xx",
                f"{path}: HTTP {status}; the server or its proxy is failing, see their logs",
            )
        raise PollError("invalid_response", f"{path}: unexpected HTTP {status}")
