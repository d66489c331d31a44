"""The YAML config: schema, ${ENV} expansion, secret files, and errors that name file and field.

Every problem is collected (not just the first) so an operator fixes the file in one go. Values that
came from the environment or from secret files are never echoed back in a message.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .collectors.registry import DEFAULTS, OPTIONAL
from .configmodel import (
    DEFAULT_HEALTH_ADDRESS,
    DEFAULT_LISTEN,
    DEFAULT_MAX_CONCURRENCY,
    DEFAULT_MAX_RESPONSE_BYTES,
    DEFAULT_POLL_INTERVAL,
    DEFAULT_STATISTICS_INTERVAL,
    DEFAULT_TIMEOUT,
    Auth,
    Config,
    ConfigError,
    PasswordAuth,
    Secret,
    TLSConfig,
    TokenAuth,
    WorkspaceConfig,
    parse_listen,
)
from .secretfiles import (
    MAX_SECRET_FILE_BYTES,
    SecretFileError,
    read_secret,
    read_secret_file,
    secret_problem,
)
from .units import parse_duration, parse_size
from .yamlfile import parse_yaml, read_text

# the names other modules import from here (the model, the secret files, the YAML reader)
__all__ = [
    "DEFAULT_LISTEN",
    "MAX_PROBLEMS",
    "Auth",
    "Config",
    "ConfigError",
    "PasswordAuth",
    "Secret",
    "SecretFileError",
    "TLSConfig",
    "TokenAuth",
    "WorkspaceConfig",
    "load_config",
    "parse_listen",
    "parse_yaml",
    "read_secret",
    "read_secret_file",
    "read_text",
    "secret_problem",
]

MAX_CONFIG_BYTES = 64 * 1024 * 1024  # ~300 000 workspaces: far beyond a real fleet
MAX_STRING = MAX_SECRET_FILE_BYTES
MAX_URL = 2048
MAX_NAME = 200
MAX_PROBLEMS = 100

_NAME = re.compile(r"[A-Za-z0-9_.-]+")
_ENV_REF = re.compile(r"\$\{([^}]*)\}")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

TOP_KEYS = {
    "listen",
    "poll_interval",
    "statistics_interval",
    "timeout",
    "max_concurrency",
    "max_response_bytes",
    "shard",
    "workspaces",
    "extra_statistics",
    "collectors",
}


@dataclass(frozen=True)
class _Choice:
    """One optional collector's setting: on/off, its interval (None: its default) and, for
    health, where to reach the instances (None: the default template)."""

    enabled: bool
    interval: float | None = None
    address: str | None = None


DEFAULT_COLLECTORS = {name: _Choice(on) for name, on in DEFAULTS.items()}
MAX_EXTRA_STATISTICS = 100
_STATISTICS_PATH = re.compile(r"[A-Za-z0-9_$-]+(\.[A-Za-z0-9_$-]+)*")
WORKSPACE_KEYS = {
    "name",
    "url",
    "auth",
    "poll_interval",
    "statistics_interval",
    "timeout",
    "statistics",
    "tls",
    "collectors",
}
AUTH_KEYS = {"user_id", "token", "token_file", "username", "password", "password_file"}
TLS_KEYS = {"ca_file", "insecure_skip_verify"}
AUTH_FORMS = "give either token/token_file or username with password/password_file"


class _Loader:
    """Walks the raw YAML tree, collecting problems with their field paths."""

    def __init__(self, filename: str, env: dict[str, str]) -> None:
        self.filename = filename
        self.env = env
        self.problems: list[str] = []
        self.from_env: set[str] = set()  # field paths whose value came (partly) from ${ENV}
        # field paths that already have their one message (bad ${ENV}, null value)
        self.env_failed: set[str] = set()

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
            return {k: self.expand(v, f"{path}.{k}" if path else str(k)) for k, v in value.items()}
        if isinstance(value, list):
            return [self.expand(v, f"{path}[{i}]") for i, v in enumerate(value)]
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

    def duration(self, raw: dict[str, Any], key: str, path: str, default: float) -> float:
        if key not in raw:
            return default
        try:
            return parse_duration(raw[key])
        except ValueError as exc:
            self.error(_join(path, key), str(exc))
            return default

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
        except SecretFileError as exc:
            self.error(where, f"file {self.shown(where, text)} {exc}")
            return None
        except OSError as exc:
            reason = exc.strerror or "error"
            self.error(where, f"cannot read file {self.shown(where, text)}: {reason}")
            return None
        return file

    def load(self, raw: Any) -> Config:
        if raw is None:
            raw = {}
        if not isinstance(raw, dict):
            self.error("(top level)", "must be a mapping of settings")
            raise ConfigError(self.problems)
        raw = self.expand(self.drop_nulls(raw, ""), "")
        self.check_keys(raw, TOP_KEYS, "")
        listen_host, listen_port = parse_listen(DEFAULT_LISTEN)
        if "listen" in raw:
            if isinstance(raw["listen"], str):
                try:
                    listen_host, listen_port = parse_listen(raw["listen"])
                except ValueError as exc:
                    self.error("listen", str(exc))
            else:
                self.error("listen", "expected HOST:PORT, e.g. 0.0.0.0:9877")
        poll = self.duration(raw, "poll_interval", "", DEFAULT_POLL_INTERVAL)
        stats = self.duration(raw, "statistics_interval", "", DEFAULT_STATISTICS_INTERVAL)
        timeout = self.duration(raw, "timeout", "", DEFAULT_TIMEOUT)
        concurrency = raw.get("max_concurrency", DEFAULT_MAX_CONCURRENCY)
        if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
            self.error("max_concurrency", "must be a positive integer")
            concurrency = DEFAULT_MAX_CONCURRENCY
        max_bytes = DEFAULT_MAX_RESPONSE_BYTES
        if "max_response_bytes" in raw:
            try:
                max_bytes = parse_size(raw["max_response_bytes"])
            except ValueError as exc:
                self.error("max_response_bytes", str(exc))
        shard_index, shard_count = self.shard(raw.get("shard"))
        extra_statistics = self.statistics_paths(raw.get("extra_statistics"))
        collectors = self.collectors(raw.get("collectors"), "collectors", DEFAULT_COLLECTORS)
        workspaces: list[WorkspaceConfig] = []
        raw_workspaces = raw.get("workspaces")
        if not isinstance(raw_workspaces, list) or not raw_workspaces:
            self.error("workspaces", "must be a non-empty list of workspaces")
            raw_workspaces = []
        seen: dict[str, int] = {}
        for index, item in enumerate(raw_workspaces):
            path = f"workspaces[{index}]"
            workspace = self.workspace(item, path, poll, stats, timeout, collectors)
            if workspace is None:
                continue
            if workspace.name in seen:
                self.error(
                    f"{path}.name",
                    f"duplicate name {workspace.name!r} (also workspaces[{seen[workspace.name]}])",
                )
            seen.setdefault(workspace.name, index)
            workspaces.append(workspace)
        if self.problems:
            raise ConfigError(self.problems)
        return Config(
            listen_host=listen_host,
            listen_port=listen_port,
            poll_interval=poll,
            statistics_interval=stats,
            timeout=timeout,
            max_concurrency=concurrency,
            max_response_bytes=max_bytes,
            workspaces=tuple(workspaces),
            shard_index=shard_index,
            shard_count=shard_count,
            extra_statistics=extra_statistics,
        )

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
            if not isinstance(item, str) or len(item) > 200 or not _STATISTICS_PATH.fullmatch(item):
                self.error(
                    where, "must be a dotted path of field names, e.g. apps.totalPrivateApps"
                )
            elif item in paths:
                self.error(where, f"duplicate path {item!r}")
            else:
                paths.append(item)
        return tuple(paths)

    def shard(self, raw: Any) -> tuple[int, int]:
        if raw is None:
            return 0, 1
        if not isinstance(raw, dict):
            self.error("shard", "must be a mapping {index, count}")
            return 0, 1
        self.check_keys(raw, {"index", "count"}, "shard")
        index, count = raw.get("index"), raw.get("count")
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            self.error("shard.count", "must be a positive integer")
            return 0, 1
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < count:
            self.error("shard.index", f"must be an integer from 0 to {count - 1}")
            return 0, 1
        return index, count

    def collectors(self, raw: Any, path: str, inherited: dict[str, _Choice]) -> dict[str, _Choice]:
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
                keys = {"enabled", "interval"} | (
                    {"address_template"} if name == "health" else set()
                )
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
                            "the server, see the README)",
                        )
                address = before.address
                if "address_template" in value:
                    address = self.address_template(value["address_template"], where)
                settings[name] = _Choice(enabled, interval, address)
            else:
                self.error(where, "must be true, false or a mapping {enabled, interval}")
        return settings

    def address_template(self, value: Any, where: str) -> str | None:
        """Where the health collector asks each instance, e.g. https://{host}:{port}."""
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

    def workspace(
        self,
        raw: Any,
        path: str,
        poll: float,
        stats: float,
        timeout: float,
        collectors: dict[str, _Choice] | None = None,
    ) -> WorkspaceConfig | None:
        if not isinstance(raw, dict):
            self.error(path, "must be a mapping with name, url and auth")
            return None
        self.check_keys(raw, WORKSPACE_KEYS, path)
        before = len(self.problems)
        name = raw.get("name")
        if name is None:
            self.error(f"{path}.name", "is required")
        elif not isinstance(name, str) or not _NAME.fullmatch(name) or len(name) > MAX_NAME:
            self.error(
                f"{path}.name",
                f"must match [A-Za-z0-9_.-]+, at most {MAX_NAME} characters "
                "(it becomes a label value)",
            )
        url = self.url(raw.get("url"), f"{path}.url")
        auth = self.auth(raw.get("auth"), f"{path}.auth")
        statistics = raw.get("statistics", True)
        if not isinstance(statistics, bool):
            self.error(f"{path}.statistics", "must be true or false")
        tls = self.tls(raw.get("tls"), f"{path}.tls")
        chosen = self.collectors(
            raw.get("collectors"),
            f"{path}.collectors",
            DEFAULT_COLLECTORS if collectors is None else collectors,
        )
        workspace = WorkspaceConfig(
            name=str(name),
            url=url or "",
            auth=auth or TokenAuth(user_id=""),
            poll_interval=self.duration(raw, "poll_interval", path, poll),
            statistics_interval=self.duration(raw, "statistics_interval", path, stats),
            timeout=self.duration(raw, "timeout", path, timeout),
            statistics=bool(statistics),
            tls=tls,
            collectors=tuple(
                (name, choice.interval) for name, choice in chosen.items() if choice.enabled
            ),
            health_address=chosen["health"].address or DEFAULT_HEALTH_ADDRESS,
        )
        return workspace if len(self.problems) == before else None

    def url(self, value: Any, path: str) -> str | None:
        if value is None:
            self.error(path, "is required")
            return None
        if not isinstance(value, str):
            self.error(path, "must be a string like https://chat.example.com/")
            return None
        if len(value) > MAX_URL:
            self.error(path, f"longer than {MAX_URL} characters")
            return None
        try:
            parts = urlsplit(value.strip())
            parts.port  # noqa: B018 - raises ValueError on a bad port
        except ValueError:
            self.error(path, "is not a valid URL")
            return None
        if parts.scheme not in ("http", "https"):
            self.error(path, "must start with http:// or https://")
            return None
        if not parts.hostname:
            self.error(path, "has no host name")
            return None
        if parts.username or parts.password:
            self.error(path, "must not contain credentials; use the auth section")
            return None
        if parts.query or parts.fragment:
            self.error(path, "must not contain a query or fragment")
            return None
        return value.strip().rstrip("/")

    def auth(self, raw: Any, path: str) -> Auth | None:
        if not isinstance(raw, dict):
            self.error(path, f"is required: {AUTH_FORMS}")
            return None
        self.check_keys(raw, AUTH_KEYS, path)
        has_token = "token" in raw or "token_file" in raw
        has_password = "username" in raw or "password" in raw or "password_file" in raw
        if has_token == has_password:
            self.error(path, AUTH_FORMS)
            return None
        if has_token:
            if "token" in raw and "token_file" in raw:
                self.error(path, "give token or token_file, not both")
                return None
            user_id = self.string(raw, "user_id", path, header=True)
            if user_id is None and "user_id" not in raw:
                self.error(f"{path}.user_id", "is required with a token")
            if "username" in raw:
                self.error(path, AUTH_FORMS)
            token = self.string(raw, "token", path, header=True)
            token_file = self.readable_file(raw, "token_file", path)
            if user_id is None or (token is None and token_file is None):
                return None
            return TokenAuth(user_id, Secret(token) if token else None, token_file)
        if "user_id" in raw:
            self.error(f"{path}.user_id", "only goes with token/token_file")
        if "password" in raw and "password_file" in raw:
            self.error(path, "give password or password_file, not both")
            return None
        username = self.string(raw, "username", path)
        if username is None and "username" not in raw:
            self.error(f"{path}.username", "is required with a password")
        if "password" not in raw and "password_file" not in raw:
            self.error(path, "username needs password or password_file")
            return None
        password = self.string(raw, "password", path)
        password_file = self.readable_file(raw, "password_file", path)
        if username is None or (password is None and password_file is None):
            return None
        return PasswordAuth(username, Secret(password) if password else None, password_file)

    def tls(self, raw: Any, path: str) -> TLSConfig:
        if raw is None:
            return TLSConfig()
        if not isinstance(raw, dict):
            self.error(path, "must be a mapping with ca_file and/or insecure_skip_verify")
            return TLSConfig()
        self.check_keys(raw, TLS_KEYS, path)
        insecure = raw.get("insecure_skip_verify", False)
        if not isinstance(insecure, bool):
            self.error(f"{path}.insecure_skip_verify", "must be true or false")
            insecure = False
        return TLSConfig(
            ca_file=self.readable_file(raw, "ca_file", path), insecure_skip_verify=insecure
        )


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def load_config(path: str | Path, env: dict[str, str] | None = None) -> Config:
    """Read and validate a config file; raises ConfigError with every problem found."""
    filename = str(path)
    raw = parse_yaml(read_text(filename, "config", MAX_CONFIG_BYTES), filename)
    loader = _Loader(filename, dict(os.environ) if env is None else env)
    try:
        return loader.load(raw)
    except RecursionError:
        raise ConfigError([f"{filename}: (top level): nested too deeply"]) from None
