"""--web-config: TLS, basic auth, headers and rate limit for the exporter's own endpoints.

The file format and its semantics are the Prometheus exporter-toolkit's, so operators can reuse
the files they have for node_exporter (README, "Parity with exporter-toolkit"):

    tls_server_config: see tlsconfig.py
    http_server_config: {http2, headers}
    basic_auth_users: {name: bcrypt hash}
    rate_limit: {interval, burst}
"""

from __future__ import annotations

import re
import ssl
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from exporter.config.yamlfile import parse_yaml, read_text
from exporter.model.config import ConfigError
from exporter.model.units import parse_duration
from exporter.web.tlsconfig import TLS_KEYS, build_context, join_dir, tls_enabled

TOP_KEYS = ("tls_server_config", "http_server_config", "basic_auth_users", "rate_limit")
# exporter-toolkit's extraHTTPHeaders: the only headers it lets a config add, and their values
EXTRA_HEADERS: dict[str, tuple[str, ...]] = {
    "Strict-Transport-Security": (),
    "X-Content-Type-Options": ("nosniff",),
    "X-Frame-Options": ("deny", "sameorigin"),
    "X-XSS-Protection": (),
    "Content-Security-Policy": (),
}
# bcrypt as Go's bcrypt.Cost accepts it: $2a$/$2b$/$2y$, cost 04-31, 53 characters of salt+hash
_BCRYPT = re.compile(r"\$2[aby]\$(\d\d)\$[./A-Za-z0-9]{53}")
MAX_WEB_CONFIG_BYTES = 1024 * 1024


@dataclass(frozen=True)
class RateLimit:
    """A token bucket over all requests: one token every `interval`, at most `burst` stored."""

    interval: float
    burst: int


@dataclass(frozen=True)
class WebConfig:
    ssl_context: ssl.SSLContext | None = None
    users: dict[str, bytes] = field(default_factory=dict)  # name -> bcrypt hash
    headers: dict[str, str] = field(default_factory=dict)
    rate_limit: RateLimit | None = None
    allowed_sans: tuple[str, ...] | None = None  # client certificate SANs, any one suffices


def load_web_config(path: str) -> WebConfig:
    """Read and validate a web config file; raises ConfigError naming file and field."""
    problems: list[str] = []

    def error(where: str, message: str) -> None:
        problems.append(f"{path}: {where}: {message}")

    raw = parse_yaml(read_text(path, "web config", MAX_WEB_CONFIG_BYTES), path)
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError([f"{path}: (top level): must be a mapping"])
    for key in raw:
        if key not in TOP_KEYS:
            error(str(key), f"unknown key (allowed: {', '.join(TOP_KEYS)})")
    http2, headers = _http_server_config(_mapping(raw, "http_server_config", error), error)
    tls = _mapping(raw, "tls_server_config", error)
    for key in tls:  # whether TLS is on or not: a misspelled key must not pass for plain HTTP
        if key not in TLS_KEYS:
            error(f"tls_server_config.{key}", "unknown key")
    context = None
    if tls_enabled(tls):
        directory = Path(path).parent
        for key in ("cert_file", "key_file", "client_ca_file"):
            if key in tls:
                tls[key] = join_dir(directory, tls[key])
        context = build_context(tls, http2, error)
    elif tls.get("client_allowed_sans") is not None:
        error("tls_server_config.client_allowed_sans", "needs TLS (cert_file and key_file)")
    sans = tls.get("client_allowed_sans")
    config = WebConfig(
        ssl_context=context,
        users=_users(raw.get("basic_auth_users"), error),
        headers=headers,
        rate_limit=_rate_limit(_mapping(raw, "rate_limit", error), error),
        allowed_sans=tuple(sans) if isinstance(sans, list) else None,
    )
    if problems:
        raise ConfigError(problems)
    return config


def _mapping(raw: dict[str, Any], key: str, error: Any) -> dict[str, Any]:
    value = raw.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        error(key, "must be a mapping")
        return {}
    return dict(value)


def _http_server_config(raw: dict[str, Any], error: Any) -> tuple[bool, dict[str, str]]:
    where = "http_server_config"
    for key in raw:
        if key not in ("http2", "headers"):
            error(f"{where}.{key}", "unknown key (allowed: http2, headers)")
    http2 = raw.get("http2", True)
    if not isinstance(http2, bool):
        error(f"{where}.http2", "must be true or false")
        http2 = True
    headers: dict[str, str] = {}
    given = raw.get("headers") or {}
    if not isinstance(given, dict):
        error(f"{where}.headers", "must be a mapping of header name to value")
        return http2, headers
    for name, value in given.items():
        if isinstance(value, bool):  # YAML scalars read as strings, as Go's decoder does
            value = "true" if value else "false"
        elif isinstance(value, int | float):
            value = str(value)
        allowed = EXTRA_HEADERS.get(name) if isinstance(name, str) else None
        if allowed is None:
            error(f"{where}.headers", f'HTTP header "{name}" can not be configured')
        elif not isinstance(value, str) or not (value.isascii() and value.isprintable()):
            error(f"{where}.headers.{name}", "must be printable ASCII text on one line")
        elif allowed and value not in allowed:
            error(
                f"{where}.headers.{name}",
                f"invalid value for {name}. Expected one of: {list(allowed)}, but got: {value!r}",
            )
        else:
            headers[name] = value
    return http2, headers


def _users(raw: Any, error: Any) -> dict[str, bytes]:
    users: dict[str, bytes] = {}
    if raw is None:
        return users
    if not isinstance(raw, dict):
        error("basic_auth_users", "must be a mapping of user name to bcrypt hash")
        return users
    for name, hashed in raw.items():
        where = f"basic_auth_users.{name}"
        match = _BCRYPT.fullmatch(hashed) if isinstance(hashed, str) else None
        if match is None:
            error(where, "must be a bcrypt hash ($2a$, $2b$ or $2y$, cost, 53 characters)")
        elif not 4 <= int(match.group(1)) <= 31:
            error(where, f"bcrypt cost {match.group(1)} is outside 4-31")
        else:
            users[str(name)] = hashed.encode()
    return users


def _rate_limit(raw: dict[str, Any], error: Any) -> RateLimit | None:
    for key in raw:
        if key not in ("interval", "burst"):
            error(f"rate_limit.{key}", "unknown key (allowed: interval, burst)")
    interval, burst = raw.get("interval"), raw.get("burst", 0)
    if interval in (None, 0, "0", "0s"):  # as the toolkit: no interval, no limiter
        return None
    try:
        seconds = parse_duration(interval)
    except ValueError as exc:
        error("rate_limit.interval", str(exc))
        return None
    if isinstance(burst, bool) or not isinstance(burst, int) or burst < 0:
        error("rate_limit.burst", "must be a whole number, 0 or more")
        return None
    return RateLimit(seconds, burst)
