"""The YAML config: schema, ${ENV} expansion, secret files, and errors that name file and field.

Every problem is collected (not just the first) so an operator fixes the file in one go. Values that
came from the environment or from secret files are never echoed back in a message.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any
from urllib.parse import SplitResult, urlsplit

from yarl import URL

from exporter.config.collectors import DEFAULT_COLLECTORS, Choice, CollectorSettings
from exporter.config.yamlfile import parse_yaml, read_text
from exporter.model.config import (
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
from exporter.model.units import parse_size

# a poll interval below this is a config error: no Rocket.Chat is to be polled faster
MIN_INTERVAL = 1.0

MAX_CONFIG_BYTES = 64 * 1024 * 1024  # ~300 000 workspaces: far beyond a real fleet
MAX_URL = 2048
MAX_NAME = 200

_NAME = re.compile(r"[A-Za-z0-9_.-]+")

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


WORKSPACE_KEYS = {
    "name",
    "url",
    "auth",
    "poll_interval",
    "statistics_interval",
    "timeout",
    "statistics",
    "tls",
    "proxy_url",
    "collectors",
}
AUTH_KEYS = {"user_id", "token", "token_file", "username", "password", "password_file"}
TLS_KEYS = {"ca_file", "insecure_skip_verify"}
AUTH_FORMS = "give either token/token_file or username with password/password_file"


class _Loader(CollectorSettings):
    """Walks the raw YAML tree, collecting problems with their field paths."""

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
        poll = self.duration(raw, "poll_interval", "", DEFAULT_POLL_INTERVAL, MIN_INTERVAL)
        stats = self.duration(
            raw, "statistics_interval", "", DEFAULT_STATISTICS_INTERVAL, MIN_INTERVAL
        )
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
            secret_problems=tuple(self.secret_problems),
        )

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
        self,
        raw: Any,
        path: str,
        poll: float,
        stats: float,
        timeout: float,
        collectors: dict[str, Choice] | None = None,
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
        proxy_url = self.proxy_url(raw, path)
        chosen = self.collectors(
            raw.get("collectors"),
            f"{path}.collectors",
            DEFAULT_COLLECTORS if collectors is None else collectors,
        )
        workspace = WorkspaceConfig(
            name=str(name),
            url=url or "",
            auth=auth or TokenAuth(user_id=""),
            poll_interval=self.duration(raw, "poll_interval", path, poll, MIN_INTERVAL),
            statistics_interval=self.duration(
                raw, "statistics_interval", path, stats, MIN_INTERVAL
            ),
            timeout=self.duration(raw, "timeout", path, timeout),
            statistics=bool(statistics),
            tls=tls,
            proxy_url=proxy_url,
            collectors=tuple(
                (name, choice.interval) for name, choice in chosen.items() if choice.enabled
            ),
            settings=tuple(
                (name, choice.settings) for name, choice in chosen.items() if choice.settings
            ),
        )
        self.checked(chosen, workspace, f"{path}.collectors")
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
        parts = self.http_url(value, path)
        if parts is None:
            return None
        if parts.username or parts.password:
            self.error(path, "must not contain credentials; use the auth section")
            return None
        if parts.query or parts.fragment:
            self.error(path, "must not contain a query or fragment")
            return None
        return value.strip().rstrip("/")

    def http_url(self, value: str, path: str) -> SplitResult | None:
        """The parts of an http(s) URL with a host name and no spaces or control characters;
        None, with the problem recorded, for anything else."""
        text = value.strip()
        try:
            parts = urlsplit(text)
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
        if any(c.isspace() or not c.isprintable() for c in text):
            self.error(path, "must not contain spaces or control characters")
            return None
        try:  # and what the HTTP client (yarl, aiohttp) will make of it
            if not URL(text).raw_host:
                raise ValueError(text)
        except (ValueError, TypeError):
            self.error(path, "is not a valid URL")
            return None
        return parts

    def proxy_url(self, raw: dict[str, Any], path: str) -> Secret | None:
        """An http(s) proxy for this workspace; it may carry user:password (kept secret)."""
        if "proxy_url" not in raw:
            return None
        value = raw["proxy_url"]
        where = f"{path}.proxy_url"
        if not isinstance(value, str) or not value.strip():
            self.error(where, "must be a URL like http://proxy.example.com:3128")
            return None
        if self.http_url(value, where) is None:
            return None
        return Secret(value.strip())

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


def load_config(path: str | Path, env: dict[str, str] | None = None) -> Config:
    """Read and validate a config file; raises ConfigError with every problem found."""
    filename = str(path)
    raw = parse_yaml(read_text(filename, "config", MAX_CONFIG_BYTES), filename)
    loader = _Loader(filename, dict(os.environ) if env is None else env)
    try:
        return loader.load(raw)
    except RecursionError:
        raise ConfigError([f"{filename}: (top level): nested too deeply"]) from None
