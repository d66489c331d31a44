"""Wiring of one running exporter: poller + state + web server, startable from CLI or tests."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable

from aiohttp import web

from exporter.config.shard import assigned
from exporter.model.config import Config, ConfigError
from exporter.runtime.poller import Poller, add_workspace, new_state
from exporter.runtime.state import State
from exporter.web.app import GUARD_KEY, Reloader, make_app
from exporter.web.inflight import MAX_ANSWERS
from exporter.web.listener import Listener
from exporter.web.server import (
    HEADER_TIMEOUT,
    BusyTracker,
    connection_budget,
    quiet_client_errors,
    raise_fd_limit,
)
from exporter.web.webconfig import WebConfig

log = logging.getLogger("exporter")


class Exporter:
    """Polls the workspaces of `config` (those of its shard) and serves the result over HTTP."""

    def __init__(
        self,
        config: Config,
        web_config: WebConfig | None = None,
        reloader: Reloader | None = None,
        *,
        lifecycle: bool = False,
        header_timeout: float = HEADER_TIMEOUT,
        max_connections: int | None = None,
        max_answers: int = MAX_ANSWERS,
    ) -> None:
        self.config = assigned(config)
        self.web_config = web_config or WebConfig()
        self.reloader = reloader
        self.lifecycle = lifecycle
        self.header_timeout = header_timeout
        self.max_connections = max_connections
        self.max_answers = max_answers
        self.state: State = new_state(self.config)
        self.poller = Poller(self.config, self.state)
        self.listener: Listener | None = None
        self.app: web.Application | None = None
        self.port = 0
        # however many reloads arrive at once (SIGHUP, POST /-/reload), one runs at a time
        self.reload_lock = asyncio.Lock()

    async def start(self) -> None:
        """Bind the web server first (fail fast on a busy port), then start polling."""
        quiet_client_errors()
        max_connections = self.max_connections or connection_budget(
            raise_fd_limit(), self.config.max_concurrency
        )
        tracker = BusyTracker()
        app = self.app = make_app(
            self.state,
            web_config=self.web_config,
            reload=self.reloader,
            lifecycle=self.lifecycle,
            tracker=tracker,
            max_answers=self.max_answers,
        )
        self.listener = Listener(
            app,
            app[GUARD_KEY],
            tracker,
            self.config.listen_host,
            self.config.listen_port,
            self.web_config,
            max_connections=max_connections,
            header_timeout=self.header_timeout,
        )
        await self.listener.start()
        self.port = self.listener.port
        await self.poller.open()
        self.poller.start()
        shard = ""
        if self.config.shard_count > 1:
            shard = f" (shard {self.config.shard_index}/{self.config.shard_count})"
        log.info(
            "listening on %s:%d%s, polling %d workspace(s)%s",
            self.config.listen_host,
            self.port,
            " with TLS" if self.web_config.ssl_context else "",
            len(self.config.workspaces),
            shard,
        )

    async def reload_web_config(self, path: str) -> list[str]:
        """Re-read --web-config (see Listener.reload_web_config). An invalid file changes
        nothing; the problems are returned."""
        async with self.reload_lock:
            assert self.listener is not None
            problems = await self.listener.reload_web_config(path)
            self.web_config = self.listener.web_config
            if problems:
                self.state.record_reload_failure("web_config")
            return problems

    async def reload_from(self, load: Callable[[], Config]) -> list[str]:
        """Load a config in a worker thread (the loop keeps serving) and apply it, both under
        the reload lock so the last file read is the one that runs; the problems, if invalid."""
        async with self.reload_lock:
            try:
                config = await asyncio.to_thread(load)
            except ConfigError as exc:
                self.state.record_reload_failure("config")
                return exc.problems
            await self._apply(config)
            return []

    async def _apply(self, config: Config) -> None:
        """Apply a new, valid config: added workspaces start, removed ones stop and their series
        vanish, changed ones restart; unchanged ones keep their state and counters."""
        config = assigned(config)
        old = {w.name: w for w in self.config.workspaces}
        new = {w.name: w for w in config.workspaces}
        if (config.listen_host, config.listen_port) != (
            self.config.listen_host,
            self.config.listen_port,
        ):
            log.warning("reload: a new listen address takes effect only after a restart")
            config = _keep_listen(config, self.config)
        pool_changed = (config.max_concurrency, config.max_response_bytes) != (
            self.config.max_concurrency,
            self.config.max_response_bytes,
        )
        removed = old.keys() - new.keys()
        added = new.keys() - old.keys()
        changed = {n for n in old.keys() & new.keys() if old[n] != new[n]}
        if pool_changed:  # a new connection pool: every poll loop restarts, state stays
            await self.poller.close()
        else:
            for name in removed | changed:
                await self.poller.remove(name)
        for name in removed | changed:
            self.state.remove(name)
        for name in added | changed:
            add_workspace(self.state, new[name])
        if pool_changed:
            self.poller = Poller(config, self.state)
            await self.poller.open()
            self.poller.start()
        else:
            self.poller.config = config
            for name in sorted(added | changed):
                await self.poller.add(new[name])
        self.config = config
        log.info(
            "config reloaded: %d added, %d removed, %d changed, %d unchanged",
            len(added),
            len(removed),
            len(changed),
            len(old.keys() & new.keys()) - len(changed),
        )

    async def stop(self) -> None:
        await self.poller.close()
        if self.listener is not None:
            await self.listener.stop()
        log.info("stopped")

    @property
    def url(self) -> str:
        host = self.config.listen_host
        if host in ("0.0.0.0", "::", ""):
            host = "127.0.0.1"
        if ":" in host:
            host = f"[{host}]"
        scheme = "https" if self.web_config.ssl_context else "http"
        return f"{scheme}://{host}:{self.port}"


def _keep_listen(config: Config, current: Config) -> Config:
    return dataclasses.replace(
        config, listen_host=current.listen_host, listen_port=current.listen_port
    )
