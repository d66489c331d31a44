"""The generic checks of the config loader: problems collected with their field paths, nulls,
${ENV} expansion, unknown keys, durations, strings and readable files. Values from the
environment or from secret files are never echoed back in a message."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from exporter.model.secrets import (
    MAX_SECRET_FILE_BYTES,
    SecretFileError,
    read_secret_file,
    secret_problem,
)
from exporter.model.units import parse_duration

MAX_STRING = MAX_SECRET_FILE_BYTES
MAX_PROBLEMS = 100
_ENV_REF = re.compile(r"\$\{([^}]*)\}")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class Checker:
    """Walks the raw YAML tree, collecting problems with their field paths: the generic
    checks every part of the config uses."""

    def __init__(self, filename: str, env: dict[str, str]) -> None:
        self.filename = filename
        self.env = env
        self.problems: list[str] = []
        self.from_env: set[str] = set()  # field paths whose value came (partly) from ${ENV}
        # field paths that already have their one message (bad ${ENV}, null value)
        self.env_failed: set[str] = set()
        # unusable token/password files: not fatal at start (see Config.secret_problems)
        self.secret_problems: list[str] = []

    def error(self, path: str, message: str) -> None:
        """Record a problem, unless this field (or one inside it) already has its message."""
        if len(self.problems) > MAX_PROBLEMS:  # a file of mistakes: the first ones suffice
            return
        if path in self.env_failed or any(p.startswith(f"{path}.") for p in self.env_failed):
            return
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(f"{self.filename}: {path}: {message}")
        else:
            self.problems.append(f"{self.filename}: more problems not shown; fix these first")

    def drop_nulls(self, value: Any, path: str) -> Any:
        """A key with no value (`token:`, `url: ~`) is a mistake, never "use the default":
        report it once and drop it, so the checks below do not repeat it as "missing"."""
        if isinstance(value, dict):
            kept = {}
            for key, item in value.items():
                where = f"{path}.{key}" if path else str(key)
                if item is None:
                    self.error(where, "has no value (null); give a value or remove the key")
                    self.env_failed.add(where)
                else:
                    kept[key] = self.drop_nulls(item, where)
            return kept
        if isinstance(value, list):
            return [self.drop_nulls(v, f"{path}[{i}]") for i, v in enumerate(value)]
        if isinstance(value, str) and len(value) > MAX_STRING:
            self.error(path or "(top level)", f"longer than {MAX_STRING} characters")
            self.env_failed.add(path)
            return ""
        return value

    def expand(self, value: Any, path: str) -> Any:
        """Replace ${NAME} in every string of the tree; a missing variable is an error."""
        if isinstance(value, dict):
            return {
                k: v if _as_is(v) else self.expand(v, f"{path}.{k}" if path else str(k))
                for k, v in value.items()
            }
        if isinstance(value, list):
            return [v if _as_is(v) else self.expand(v, f"{path}[{i}]") for i, v in enumerate(value)]
        if not isinstance(value, str) or "${" not in value:
            return value
        self.from_env.add(path)

        def substitute(match: re.Match[str]) -> str:
            name = match.group(1)
            if not _ENV_NAME.fullmatch(name):
                self.error(path, f"invalid environment reference ${{{name}}}")
                self.env_failed.add(path)
                return ""
            if name not in self.env:
                self.error(path, f"environment variable {name} is not set")
                self.env_failed.add(path)
                return ""
            return self.env[name]

        return _ENV_REF.sub(substitute, value)

    def check_keys(self, raw: dict[str, Any], allowed: set[str], path: str) -> None:
        for key in raw:
            if key not in allowed:
                where = f"{path}.{key}" if path else str(key)
                self.error(where, f"unknown key (allowed: {', '.join(sorted(allowed))})")

    def duration(
        self, raw: dict[str, Any], key: str, path: str, default: float, minimum: float = 0.0
    ) -> float:
        if key not in raw:
            return default
        try:
            seconds = parse_duration(raw[key])
        except ValueError as exc:
            self.error(_join(path, key), str(exc))
            return default
        if seconds < minimum:
            self.error(_join(path, key), f"must be at least {minimum:g}s")
            return default
        return seconds

    def string(
        self, raw: dict[str, Any], key: str, path: str, *, header: bool = False
    ) -> str | None:
        """A non-empty string; `header`: one that goes into an HTTP header (user id, token)."""
        value = raw.get(key)
        if value is None:
            return None
        if not isinstance(value, str) or not value.strip():
            self.error(_join(path, key), "must be a non-empty string")
            return None
        problem = secret_problem(value, header=header)
        if problem:
            self.error(_join(path, key), problem)
            return None
        return value

    def shown(self, path: str, value: str) -> str:
        """A value for a message, unless it came from the environment (it may be a secret)."""
        return "(value from environment)" if path in self.from_env else value

    def readable_file(self, raw: dict[str, Any], key: str, path: str) -> Path | None:
        """A file that exists and is readable now; a secret file must also hold a usable secret."""
        text = self.string(raw, key, path)
        if text is None:
            return None
        where = _join(path, key)
        file = Path(text)
        try:
            if key in ("token_file", "password_file"):
                read_secret_file(file, header=key == "token_file")
            else:
                with file.open("rb") as handle:
                    handle.read(1)
        except (SecretFileError, OSError) as exc:
            shown = self.shown(where, text)
            if isinstance(exc, SecretFileError):
                problem = f"file {shown} {exc}"
            else:
                problem = f"cannot read file {shown}: {exc.strerror or 'error'}"
            if key in ("token_file", "password_file"):
                # one workspace's missing secret fails that workspace, not the exporter
                self.secret_problems.append(f"{self.filename}: {where}: {problem}")
                return file
            self.error(where, problem)
            return None
        return file


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _as_is(value: Any) -> bool:
    """A leaf without ${...}: expand leaves it as it is (no path text made for it: a large
    config has thousands of leaves)."""
    if isinstance(value, str):
        return "${" not in value
    return not isinstance(value, dict | list)
