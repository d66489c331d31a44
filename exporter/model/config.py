"""The config's model: what a loaded, valid config is. Built by config.py, read by the rest."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Generic, Protocol, TypeVar, cast

DEFAULT_LISTEN = "0.0.0.0:9877"
DEFAULT_POLL_INTERVAL = 30.0
DEFAULT_STATISTICS_INTERVAL = 300.0
DEFAULT_TIMEOUT = 10.0
DEFAULT_MAX_CONCURRENCY = 64
DEFAULT_MAX_RESPONSE_BYTES = 16 * 1024 * 1024


class ConfigError(Exception):
    """A config that cannot be used; `problems` holds one line per mistake."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class Secret:
    """A string that never shows itself in repr(), str() or logs."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


@dataclass(frozen=True, slots=True)
class TokenAuth:
    """User id plus personal access token, given inline or as a file re-read on rejection."""

    user_id: str
    token: Secret | None = None
    token_file: Path | None = None


@dataclass(frozen=True, slots=True)
class PasswordAuth:
    """Username plus password: the exporter logs in and re-logs in on 401."""

    username: str
    password: Secret | None = None
    password_file: Path | None = None


Auth = TokenAuth | PasswordAuth


@dataclass(frozen=True, slots=True)
class TLSConfig:
    ca_file: Path | None = None
    insecure_skip_verify: bool = False


T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)


class SettingKey(Protocol, Generic[T_co]):
    """Which collector setting: declared by the collector (collecting/base.py: Option)."""

    @property
    def collector(self) -> str: ...

    @property
    def key(self) -> str: ...

    @property
    def default(self) -> T_co: ...


IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


NAT64 = ipaddress.IPv6Network("64:ff9b::/96")  # RFC 6052's well-known prefix


def carried(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address,
) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """The IPv4 address an IPv6 address leads to, where it carries one: IPv4-mapped
    (::ffff:a.b.c.d), NAT64 (64:ff9b::a.b.c.d, translated by a gateway) and IPv4-compatible
    (::a.b.c.d); else the address itself. A fence judges where a connection ends up."""
    if isinstance(address, ipaddress.IPv4Address):
        return address
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    value = int(address)
    if address in NAT64 or (value >> 32 == 0 and value > 1):  # not :: nor ::1
        return ipaddress.IPv4Address(value & 0xFFFFFFFF)
    return address


def allowed(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address, networks: tuple[IPNetwork, ...] | None
) -> bool:
    """Whether a collector may connect to `address`, judged as the IPv4 address it carries if
    any (carried): inside `networks` (allowed_networks), or, without a list, anything but
    link-local (cloud metadata services live there), multicast, unspecified and broadcast
    addresses."""
    address = carried(address)
    if networks is not None:
        return any(address in network for network in networks)
    broadcast = address == ipaddress.IPv4Address("255.255.255.255")
    return not (
        address.is_link_local or address.is_multicast or address.is_unspecified or broadcast
    )


@dataclass(frozen=True, slots=True)
class WorkspaceConfig:
    name: str
    url: str  # normalised: no trailing slash; API paths are appended to it
    auth: Auth
    poll_interval: float = DEFAULT_POLL_INTERVAL
    statistics_interval: float = DEFAULT_STATISTICS_INTERVAL
    timeout: float = DEFAULT_TIMEOUT
    statistics: bool = True
    tls: TLSConfig = field(default_factory=TLSConfig)
    # None: HTTPS_PROXY/HTTP_PROXY/NO_PROXY from the environment; a Secret: it may hold a password
    proxy_url: Secret | None = None
    # the optional collectors polled for this workspace, each with its interval (None: the
    # collector's default). The loader fills in the registry's defaults (collectors/registry.py,
    # the one source of them); a config built in code names its collectors itself
    collectors: tuple[tuple[str, float | None], ...] = ()
    # each collector's own settings (collectors.<name>.<key> in the config), as
    # (collector, ((key, value), ...)); a key not here has its declared default (setting)
    settings: tuple[tuple[str, tuple[tuple[str, object], ...]], ...] = ()

    def setting(self, option: SettingKey[T]) -> T:
        """A collector's setting for this workspace: the configured value, else its default.
        The option that declares it is the only reader (collecting/base.py: Option)."""
        for collector, values in self.settings:
            if collector == option.collector:
                for key, value in values:
                    if key == option.key:
                        return cast("T", value)
        return option.default

    def with_setting(self, option: SettingKey[T], value: T) -> WorkspaceConfig:
        """This workspace with one collector setting changed (tests, the demo)."""
        mine = dict(dict(self.settings).get(option.collector, ()))
        mine[option.key] = value
        others = tuple((c, v) for c, v in self.settings if c != option.collector)
        return replace(self, settings=(*others, (option.collector, tuple(mine.items()))))


@dataclass(frozen=True, slots=True)
class Config:
    listen_host: str = "0.0.0.0"
    listen_port: int = 9877
    poll_interval: float = DEFAULT_POLL_INTERVAL
    statistics_interval: float = DEFAULT_STATISTICS_INTERVAL
    timeout: float = DEFAULT_TIMEOUT
    max_concurrency: int = DEFAULT_MAX_CONCURRENCY
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES
    workspaces: tuple[WorkspaceConfig, ...] = ()
    shard_index: int = 0  # this replica polls the workspaces that hash to it (see shard.py)
    shard_count: int = 1
    extra_statistics: tuple[str, ...] = ()  # dotted paths into the statistics record
    # token/password files unusable when the config was read: their workspaces run, are
    # `up 0` (unauthorized) until the file is fixed (it is re-read); --check-config fails
    secret_problems: tuple[str, ...] = field(default=(), compare=False)


def parse_listen(value: str) -> tuple[str, int]:
    """ "HOST:PORT", "[::1]:PORT" or ":PORT" (all interfaces); raises ValueError."""
    host, sep, port_text = value.rpartition(":")
    if not sep or not port_text.isdigit():
        raise ValueError("expected HOST:PORT, e.g. 0.0.0.0:9877")
    port = int(port_text)
    if not 0 <= port < 65536:
        raise ValueError("port must be between 0 and 65535 (0 = any free port)")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host or "0.0.0.0", port
