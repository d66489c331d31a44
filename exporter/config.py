"""The YAML config: schema, ${ENV} expansion, secret files, and errors that name file and field.

Every problem is collected (not just the first) so an operator fixes the file in one go. Values that
came from the environment or from secret files are never echoed back in a message.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from .units import parse_duration, parse_size

DEFAULT_LISTEN = "0.0.0.0:9877"
DEFAULT_POLL_INTERVAL = 30.0
DEFAULT_STATISTICS_INTERVAL = 300.0
DEFAULT_TIMEOUT = 10.0
DEFAULT_MAX_CONCURRENCY = 64
DEFAULT_MAX_RESPONSE_BYTES = 16 * 1024 * 1024
MAX_SECRET_FILE_BYTES = 64 * 1024  # a token or password; anything bigger is not one
MAX_CONFIG_BYTES = 64 * 1024 * 1024  # ~300 000 workspaces: far beyond a real fleet
MAX_STRING = MAX_SECRET_FILE_BYTES
MAX_URL = 2048
MAX_NAME = 200
MAX_PROBLEMS = 100

# libyaml's loader when PyYAML was built with it: ten times faster on a 1000-workspace config
_YAML_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
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
}
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
}
AUTH_KEYS = {"user_id", "token", "token_file", "username", "password", "password_file"}
TLS_KEYS = {"ca_file", "insecure_skip_verify"}
AUTH_FORMS = "give either token/token_file or username with password/password_file"


class ConfigError(Exception):
    """A config that cannot be used; `problems` holds one line per mistake."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class SecretFileError(ValueError):
    """A secret file (or inline secret) that cannot be used; the message never shows it."""


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


@dataclass(frozen=True)
class TokenAuth:
    """User id plus personal access token, given inline or as a file re-read on rejection."""

    user_id: str
    token: Secret | None = None
    token_file: Path | None = None


@dataclass(frozen=True)
class PasswordAuth:
    """Username plus password: the exporter logs in and re-logs in on 401."""

    username: str
    password: Secret | None = None
    password_file: Path | None = None


Auth = TokenAuth | PasswordAuth


@dataclass(frozen=True)
class TLSConfig:
    ca_file: Path | None = None
    insecure_skip_verify: bool = False


@dataclass(frozen=True)
class WorkspaceConfig:
    name: str
    url: str  # normalised: no trailing slash; API paths are appended to it
    auth: Auth
    poll_interval: float = DEFAULT_POLL_INTERVAL
    statistics_interval: float = DEFAULT_STATISTICS_INTERVAL
    timeout: float = DEFAULT_TIMEOUT
    statistics: bool = True
    tls: TLSConfig = field(default_factory=TLSConfig)


@dataclass(frozen=True)
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
        workspaces: list[WorkspaceConfig] = []
        raw_workspaces = raw.get("workspaces")
        if not isinstance(raw_workspaces, list) or not raw_workspaces:
            self.error("workspaces", "must be a non-empty list of workspaces")
            raw_workspaces = []
        seen: dict[str, int] = {}
        for index, item in enumerate(raw_workspaces):
            path = f"workspaces[{index}]"
            workspace = self.workspace(item, path, poll, stats, timeout)
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

    def workspace(
        self, raw: Any, path: str, poll: float, stats: float, timeout: float
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
        workspace = WorkspaceConfig(
            name=str(name),
            url=url or "",
            auth=auth or TokenAuth(user_id=""),
            poll_interval=self.duration(raw, "poll_interval", path, poll),
            statistics_interval=self.duration(raw, "statistics_interval", path, stats),
            timeout=self.duration(raw, "timeout", path, timeout),
            statistics=bool(statistics),
            tls=tls,
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


def load_config(path: str | Path, env: dict[str, str] | None = None) -> Config:
    """Read and validate a config file; raises ConfigError with every problem found."""
    filename = str(path)
    raw = parse_yaml(read_text(filename, "config", MAX_CONFIG_BYTES), filename)
    loader = _Loader(filename, dict(os.environ) if env is None else env)
    try:
        return loader.load(raw)
    except RecursionError:
        raise ConfigError([f"{filename}: (top level): nested too deeply"]) from None


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


def secret_problem(value: str, *, header: bool) -> str:
    """What makes a secret (or user id) unusable, "" if nothing. `header`: it is sent in an
    HTTP header, so printable ASCII only; otherwise no control characters."""
    if header and not all("!" <= c <= "~" for c in value):
        return "must be printable ASCII without spaces or control characters"
    if any(ord(c) < 32 or 127 <= ord(c) < 160 for c in value):
        return "contains a control character"
    return ""


def read_secret_file(file: Path, *, header: bool) -> str:
    """A token or password file: a regular file of at most 64 KiB, UTF-8, with a BOM and
    surrounding whitespace stripped. A FIFO or device is refused without blocking on it.
    Raises OSError when it cannot be read, SecretFileError when its content is unusable."""
    fd = os.open(file, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise SecretFileError("is not a regular file")
        chunks, size = [], 0
        while chunk := os.read(fd, MAX_SECRET_FILE_BYTES + 1 - size):
            chunks.append(chunk)
            size += len(chunk)
            if size > MAX_SECRET_FILE_BYTES:
                raise SecretFileError(f"is larger than {MAX_SECRET_FILE_BYTES} bytes")
    finally:
        os.close(fd)
    try:
        text = b"".join(chunks).decode("utf-8").removeprefix("\ufeff").strip()
    except UnicodeDecodeError:
        raise SecretFileError("is not valid UTF-8") from None
    if not text:
        raise SecretFileError("is empty")
    problem = secret_problem(text, header=header)
    if problem:
        raise SecretFileError(problem)
    return text


def read_secret(inline: Secret | None, file: Path | None, *, header: bool = False) -> str:
    """The current secret: the inline value (checked at load), or the file's, read now."""
    if inline is not None:
        return inline.reveal()
    if file is None:
        raise SecretFileError("is not configured")
    return read_secret_file(file, header=header)
