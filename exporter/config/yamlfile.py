"""Reading a config file safely: bounded size, UTF-8, YAML without aliases or duplicate keys,
clear errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from exporter.model.config import ConfigError

# libyaml's loader when PyYAML was built with it: ten times faster on a 1000-workspace config
_BASE_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _DuplicateKey(Exception):
    def __init__(self, key: str, line: int) -> None:
        super().__init__(key)
        self.key, self.line = key, line


class _Loader(_BASE_LOADER):  # type: ignore[valid-type,misc]
    """The safe loader, refusing a key given twice in one mapping: YAML says keys are unique,
    and PyYAML would let the last one win silently (a second `token_file:` further down)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> Any:
        seen: set[tuple[str, str]] = set()
        for key_node, _ in node.value:
            if isinstance(key_node, yaml.ScalarNode):
                key = (key_node.tag, key_node.value)
                if key in seen:
                    raise _DuplicateKey(key_node.value, key_node.start_mark.line + 1)
                seen.add(key)
        return super().construct_mapping(node, deep)


_YAML_LOADER: type[yaml.SafeLoader] = _Loader


def read_text(filename: str, what: str, cap: int) -> str:
    """A config file's text: at most `cap` bytes, UTF-8; a ConfigError naming the file else."""
    try:
        with Path(filename).open("rb") as handle:
            data = handle.read(cap + 1)
    except OSError as exc:
        raise ConfigError([f"{filename}: cannot read {what}: {exc.strerror or 'error'}"]) from None
    if len(data) > cap:
        raise ConfigError([f"{filename}: {what} larger than {cap} bytes"])
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError([f"{filename}: {what} is not valid UTF-8"]) from None


def parse_yaml(text: str, filename: str) -> Any:
    """The YAML tree, refusing aliases: `*name` can repeat a subtree exponentially often (the
    "billion laughs"), and nothing in this config needs one. Shared by both config files."""
    try:
        if "*" in text:  # the only way to write an alias; the scan costs nothing otherwise
            for token in yaml.scan(text, Loader=_YAML_LOADER):
                if isinstance(token, yaml.AliasToken):
                    line = token.start_mark.line + 1
                    raise ConfigError(
                        [
                            f"{filename}: line {line}: YAML aliases (*name) are not allowed; "
                            "write the value out"
                        ]
                    )
        return yaml.load(text, Loader=_YAML_LOADER)  # noqa: S506 - a safe loader
    except _DuplicateKey as exc:
        shown = exc.key if len(exc.key) <= 60 and exc.key.isprintable() else "a key"
        raise ConfigError(
            [
                f"{filename}: line {exc.line}: duplicate key {shown!r} in one mapping (the "
                "later value would silently win); keep one"
            ]
        ) from None
    except yaml.YAMLError:
        raise ConfigError([f"{filename}: {_yaml_problem(text)}"]) from None
    except RecursionError:
        raise ConfigError([f"{filename}: (top level): nested too deeply"]) from None


def _yaml_problem(text: str) -> str:
    """Where and what, from the pure-Python parser (same wording whether libyaml exists)."""
    try:
        yaml.safe_load(text)
    except RecursionError:
        return "(top level): nested too deeply"
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "(top level)"
        return f"{where}: invalid YAML: {getattr(exc, 'problem', None) or 'cannot parse'}"
    return "(top level): invalid YAML"
