"""The `collectors` and `extra_statistics` keys of the config, checked against the registry."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from exporter.collecting.registry import DEFAULTS, OPTIONAL
from exporter.collecting.statfields import EXTRA_PATH
from exporter.config.check import Checker
from exporter.model.config import WorkspaceConfig

MAX_EXTRA_STATISTICS = 100


@dataclass(frozen=True)
class Choice:
    """One optional collector's setting: on/off, its interval (None: its default) and its own
    settings as the collector declares them (Collector.options), by key."""

    enabled: bool
    interval: float | None = None
    settings: tuple[tuple[str, object], ...] = ()


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
        """`collectors: {info: true, ...}`; a value may be a mapping {enabled, interval, and the
        collector's own settings}. What a workspace does not say it inherits from the top
        level."""
        chosen = dict(inherited)
        if raw is None:
            return chosen
        if not isinstance(raw, dict):
            self.error(path, "must be a mapping of collector name to true/false")
            return chosen
        for name, value in raw.items():
            where = f"{path}.{name}"
            collector = OPTIONAL.get(name) if isinstance(name, str) else None
            if collector is None:
                self.error(where, f"unknown collector (known: {', '.join(OPTIONAL)})")
                continue
            before = chosen[name]
            if isinstance(value, bool):
                chosen[name] = replace(before, enabled=value)
            elif isinstance(value, dict):
                own = {option.key: option for option in collector.options}
                self.check_keys(value, {"enabled", "interval", *own}, where)
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
                settings = dict(before.settings)
                for key, option in own.items():
                    if key in value:
                        settings[key] = option.read(value[key], self._reporter(where))
                chosen[name] = Choice(enabled, interval, tuple(settings.items()))
            else:
                self.error(where, "must be true, false or a mapping {enabled, interval}")
        return chosen

    def _reporter(self, where: str) -> Callable[[str, str], None]:
        return lambda below, message: self.error(f"{where}.{below}" if below else where, message)

    def checked(self, chosen: dict[str, Choice], workspace: WorkspaceConfig, path: str) -> None:
        """Each collector's check of its settings together, per workspace, on what it ended up
        with (its own mapping or the top level's: links needs allowed_networks either way)."""
        for name, choice in chosen.items():
            collector = OPTIONAL[name]
            if collector.check is not None:
                collector.check(
                    choice.enabled,
                    choice.interval,
                    workspace.setting,
                    self._reporter(f"{path}.{name}"),
                )
