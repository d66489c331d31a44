"""The public listening side of an app: its runner, the bounded TCP site (with TLS if the web
config asks) and the web-config reload that reopens that site with a new TLS context."""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from exporter.model.config import ConfigError
from exporter.web.guard import WebGuard
from exporter.web.server import HEADER_TIMEOUT, BoundedServer, BusyTracker
from exporter.web.webconfig import WebConfig, load_web_config

log = logging.getLogger("exporter")


class Listener:
    def __init__(
        self,
        app: web.Application,
        guard: WebGuard,
        tracker: BusyTracker,
        host: str,
        port: int,
        web_config: WebConfig,
        *,
        max_connections: int,
        header_timeout: float = HEADER_TIMEOUT,
    ) -> None:
        self.guard = guard
        self.tracker = tracker
        self.host = host
        self.port = port
        self.web_config = web_config
        self.max_connections = max_connections
        self.runner = web.AppRunner(
            app,
            handle_signals=False,
            access_log=None,
            shutdown_timeout=0.5,
            keepalive_timeout=header_timeout,
        )
        self.site: BoundedServer | None = None  # the listening socket

    async def start(self) -> None:
        """Set the app up and bind; an OSError (a busy port) leaves nothing running."""
        await self.runner.setup()
        self.site = self._site(self.port, self.web_config)
        try:
            await self.site.start()
        except OSError:
            await self.runner.cleanup()
            raise
        self.port = self.site.port

    def _site(self, port: int, web_config: WebConfig) -> BoundedServer:
        return BoundedServer(
            self.runner,
            self.host,
            port,
            ssl_context=web_config.ssl_context,
            max_connections=self.max_connections,
            tracker=self.tracker,
        )

    async def reload_web_config(self, path: str) -> list[str]:
        """Re-read --web-config (as exporter-toolkit re-reads it): users, headers, rate limit and
        client SANs apply to the next request; TLS settings and files (a rotated certificate)
        to the next handshake, the listening socket staying open. An invalid file changes
        nothing (the old one keeps serving); the problems are returned."""
        try:
            new = await asyncio.to_thread(load_web_config, path)
        except ConfigError as exc:
            return exc.problems
        if (new.ssl_context is None) != (self.web_config.ssl_context is None):
            return [f"{path}: turning TLS on or off takes effect only after a restart"]
        assert self.site is not None
        self.guard.update(new)
        if new.ssl_context is not None:
            await self.site.use_tls(new.ssl_context)
        self.web_config = new
        log.info("web config reloaded from %s", path)
        return []

    async def stop(self) -> None:
        if self.site is not None:
            self.site.stop()
        await self.runner.cleanup()
