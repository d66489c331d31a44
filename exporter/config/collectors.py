"""The `collectors` and `extra_statistics` keys of the config, checked against the registry."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlsplit

from exporter.collecting.registry import DEFAULTS, OPTIONAL
from exporter.collecting.statfields import EXTRA_PATH
from exporter.config.check import Checker
from exporter.model.config import READYZ_MIN_INTERVAL, IPNetwork

MAX_EXTRA_STATISTICS = 100
MAX_NETWORKS = 256


@dataclass(frozen=True)
class Choice:
    """One optional collector's setting: on/off, its interval (None: its default) and, for
    health, where to reach the instances (None: the default template)."""

    enabled: bool
    interval: float | None = None
    address: str | None = None
    networks: tuple[IPNetwork, ...] | None = None  # allowed_networks; None: the default fence
    readyz: bool = False  # health: /readyz instead of /livez


DEFAULT_COLLECTORS = {name: Choice(on) for name, on in DEFAULTS.items()}


class CollectorSettings(Checker):
    """The `collectors` and `extra_statistics` keys."""

    def statistics_paths(self, raw: Any) -> tuple[str, ...]:
        """extra_statistics: dotted paths such as apps.totalPrivateApps, each once."""
        if raw is None:
            return ()
        if not isinstance(raw, list):
            self.error(
                "extra_statistics", "must be a list of dotted paths, e.g. apps.totalPrivateApps"
            )
            return ()
        if len(raw) > MAX_EXTRA_STATISTICS:
            self.error("extra_statistics", f"at most {MAX_EXTRA_STATISTICS} paths")
            return ()
        paths: list[str] = []
        for index, item in enumerate(raw):
            where = f"extra_statistics[{index}]"
            if not isinstance(item, str) or len(item) > 200 or not EXTRA_PATH.fullmatch(item):
                self.error(
                    where, "must be a dotted path of field names, e.g. apps.totalPrivateApps"
                )
            elif item in paths:
                self.error(where, f"duplicate path {item!r}")
            else:
                paths.append(item)
        return tuple(paths)

    def collectors(self, raw: Any, path: str, inherited: dict[str, Choice]) -> dict[str, Choice]:
        """`collectors: {info: true, ...}`; a value may be a mapping {enabled, interval} (health:
        also address_template). What a workspace does not say it inherits from the top level."""
        settings = dict(inherited)
        if raw is None:
            return settings
        if not isinstance(raw, dict):
            self.error(path, "must be a mapping of collector name to true/false")
            return settings
        for name, value in raw.items():
            where = f"{path}.{name}"
            collector = OPTIONAL.get(name) if isinstance(name, str) else None
            if collector is None:
                self.error(where, f"unknown collector (known: {', '.join(OPTIONAL)})")
                continue
            before = settings[name]
            if isinstance(value, bool):
                settings[name] = replace(before, enabled=value)
            elif isinstance(value, dict):
                keys = {"enabled", "interval"} | {
                    "health": {"address_template", "allowed_networks", "readyz"},
                    "links": {"address_template", "allowed_networks"},
                }.get(name, set())
                self.check_keys(value, keys, where)
                enabled = value.get("enabled", True)
                if not isinstance(enabled, bool):
                    self.error(f"{where}.enabled", "must be true or false")
                    continue
                interval = before.interval
                if "interval" in value:
                    interval = self.duration(value, "interval", where, 0.0)
                    if interval < collector.min_interval:
                        self.error(
                            f"{where}.interval",
                            f"must be at least {collector.min_interval:g}s (more often disturbs "
                            "the server, see docs/reference.md)",
                        )
                address = before.address
                if "address_template" in value:
                    address = self.address_template(value["address_template"], where)
                networks = before.networks
                if "allowed_networks" in value:
                    networks = self.networks(value["allowed_networks"], f"{where}.allowed_networks")
                readyz = value.get("readyz", before.readyz)
                if not isinstance(readyz, bool):
                    self.error(f"{where}.readyz", "must be true or false")
                    continue
                if readyz and interval is not None and interval < READYZ_MIN_INTERVAL:
                    self.error(
                        f"{where}.interval",
                        f"must be at least {READYZ_MIN_INTERVAL:g}s with readyz (each /readyz "
                        "call resets the event-loop histogram the orchestrator's probes read)",
                    )
                settings[name] = Choice(enabled, interval, address, networks, readyz)
            else:
                self.error(where, "must be true, false or a mapping {enabled, interval}")
        return settings

    def networks(self, value: Any, where: str) -> tuple[IPNetwork, ...] | None:
        """allowed_networks: CIDRs (10.0.0.0/8, fd00::/8, or one address) that the collectors
        connecting to addresses from the server's answers may connect to."""
        if not isinstance(value, list) or len(value) > MAX_NETWORKS:
            self.error(where, f"must be a list of at most {MAX_NETWORKS} CIDRs, e.g. [10.0.0.0/8]")
            return None
        found = []
        for index, item in enumerate(value):
            try:
                found.append(ipaddress.ip_network(str(item), strict=False))
            except ValueError:
                self.error(f"{where}[{index}]", "is not a CIDR like 10.0.0.0/8 or fd00::/8")
        return tuple(found)

    def address_template(self, value: Any, where: str) -> str | None:
        """Where the health (or links) collector asks each instance, e.g.
        https://{host}:{port}."""
        where = f"{where}.address_template"
        if not isinstance(value, str) or not value or len(value) > 2048:
            self.error(where, 'must be a URL template such as "http://{host}:{port}"')
            return None
        try:
            sample = value.format(host="host.example", port="3000")
        except (KeyError, IndexError, ValueError):
            self.error(where, "may only use {host} and {port} as placeholders")
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
            self.error(
                where,
                "must be an http(s) URL with {host} (and usually {port}), without "
                "user:password@, query or fragment",
            )
            return None
        return value.rstrip("/")
