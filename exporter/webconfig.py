"""--web-config: TLS and basic auth for the exporter's own endpoints.

The file format is the Prometheus exporter-toolkit's web configuration, so operators can reuse the
files they have for node_exporter:

    tls_server_config: {cert_file, key_file, client_ca_file, client_auth_type, min_version}
    basic_auth_users: {name: bcrypt hash}
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import secrets
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import bcrypt
from aiohttp import web

from .config import ConfigError, parse_yaml
from .state import State

UNPROTECTED_PATHS = frozenset({"/healthz"})
REALM = "rocketchat-exporter"
_TLS_VERSIONS = {
    "TLS10": ssl.TLSVersion.TLSv1,
    "TLS11": ssl.TLSVersion.TLSv1_1,
    "TLS12": ssl.TLSVersion.TLSv1_2,
    "TLS13": ssl.TLSVersion.TLSv1_3,
}
_CLIENT_AUTH = {
    "NoClientCert": ssl.CERT_NONE,
    "VerifyClientCertIfGiven": ssl.CERT_OPTIONAL,
    "RequireAndVerifyClientCert": ssl.CERT_REQUIRED,
}


@dataclass(frozen=True)
class WebConfig:
    ssl_context: ssl.SSLContext | None = None
    users: dict[str, bytes] = field(default_factory=dict)  # name -> bcrypt hash


def load_web_config(path: str) -> WebConfig:
    """Read and validate a web config file; raises ConfigError naming file and field."""
    problems: list[str] = []

    def error(where: str, message: str) -> None:
        problems.append(f"{path}: {where}: {message}")

    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read web config: {exc.strerror or 'error'}"]) from None
    except UnicodeDecodeError:
        raise ConfigError([f"{path}: web config is not valid UTF-8"]) from None
    raw = parse_yaml(text, path)
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError([f"{path}: (top level): must be a mapping"])
    for key in raw:
        if key not in ("tls_server_config", "basic_auth_users", "http_server_config"):
            error(str(key), "unknown key (allowed: basic_auth_users, tls_server_config)")
    context = _tls(raw.get("tls_server_config"), error)
    users: dict[str, bytes] = {}
    raw_users = raw.get("basic_auth_users") or {}
    if not isinstance(raw_users, dict):
        error("basic_auth_users", "must be a mapping of user name to bcrypt hash")
        raw_users = {}
    for name, hashed in raw_users.items():
        where = f"basic_auth_users.{name}"
        if not isinstance(hashed, str) or not hashed.startswith(("$2a$", "$2b$", "$2y$")):
            error(where, "must be a bcrypt hash ($2a$, $2b$ or $2y$...)")
            continue
        users[str(name)] = hashed.encode()
    if problems:
        raise ConfigError(problems)
    return WebConfig(ssl_context=context, users=users)


def _tls(raw: Any, error: Callable[[str, str], None]) -> ssl.SSLContext | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        error("tls_server_config", "must be a mapping")
        return None
    allowed = {
        "cert_file",
        "key_file",
        "client_ca_file",
        "client_auth_type",
        "min_version",
        "max_version",
        "cipher_suites",
        "prefer_server_cipher_suites",
        "curve_preferences",
    }
    for key in raw:
        if key not in allowed:
            error(f"tls_server_config.{key}", "unknown key")
    cert, key = raw.get("cert_file"), raw.get("key_file")
    if not cert or not key:
        error("tls_server_config", "cert_file and key_file are required")
        return None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(str(cert), str(key))
    except (OSError, ssl.SSLError) as exc:
        error("tls_server_config.cert_file", f"cannot load certificate and key: {exc}")
        return None
    for option in ("min_version", "max_version"):
        if option in raw:
            version = _TLS_VERSIONS.get(str(raw[option]))
            if version is None:
                error(f"tls_server_config.{option}", f"one of {', '.join(_TLS_VERSIONS)}")
            elif option == "min_version":
                context.minimum_version = version
            else:
                context.maximum_version = version
    auth_type = raw.get("client_auth_type", "NoClientCert")
    ca_file = raw.get("client_ca_file")
    if auth_type not in _CLIENT_AUTH:
        error(
            "tls_server_config.client_auth_type",
            f"one of {', '.join(_CLIENT_AUTH)} (RequestClientCert and RequireAnyClientCert "
            "are not supported)",
        )
        return context
    if ca_file:
        try:
            context.load_verify_locations(cafile=str(ca_file))
        except (OSError, ssl.SSLError) as exc:
            error("tls_server_config.client_ca_file", f"cannot load: {exc}")
    elif auth_type != "NoClientCert":
        error("tls_server_config.client_ca_file", f"is required with {auth_type}")
    context.verify_mode = _CLIENT_AUTH[auth_type]
    return context


def parse_basic_auth(header: str) -> tuple[str, str] | None:
    """(user, password) from an `Authorization: Basic ...` header, None if there is none."""
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic" or not encoded:
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return None
    user, sep, password = decoded.partition(":")
    return (user, password) if sep else None


class BasicAuthGuard:
    """Checks basic auth on every path but /healthz; failures are counted.

    bcrypt is slow on purpose (tens of milliseconds); checks run in a worker thread, and a
    successful (user, password) pair is remembered by its SHA-256 so a scrape every few seconds
    does not pay for bcrypt every time.
    """

    def __init__(self, users: dict[str, bytes], state: State) -> None:
        self.users = users
        self.state = state
        state.auth_failures = 0
        self._verified: set[bytes] = set()
        # a hash of a random password with the users' cost: checked for unknown names, so a
        # wrong name costs as much time as a wrong password and timing reveals no user names
        rounds = int(next(iter(users.values())).split(b"$")[2]) if users else 10
        self._dummy = bcrypt.hashpw(secrets.token_bytes(16), bcrypt.gensalt(rounds=rounds))

    def _check(self, name: str, password: str) -> bool:
        key = hashlib.sha256(f"{name}\0{password}".encode()).digest()
        if key in self._verified:
            return True
        hashed = self.users.get(name)
        try:
            ok = bcrypt.checkpw(password.encode(), hashed or self._dummy)
        except ValueError:
            ok = False
        ok = ok and hashed is not None
        if ok:
            self._verified.add(key)
        return ok

    async def allowed(self, request: web.Request) -> bool:
        credentials = parse_basic_auth(request.headers.get("Authorization", ""))
        if credentials is None:
            return False
        return await asyncio.to_thread(self._check, *credentials)

    @web.middleware
    async def middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        if request.path in UNPROTECTED_PATHS or await self.allowed(request):
            return await handler(request)
        self.state.record_auth_failure()
        return web.Response(
            status=401,
            text="401 Unauthorized\n",
            headers={"WWW-Authenticate": f'Basic realm="{REALM}", charset="UTF-8"'},
        )
