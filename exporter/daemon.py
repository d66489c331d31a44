"""Wiring of one running exporter: poller + state + web server, startable from CLI or tests."""

from __future__ import annotations

import logging

from aiohttp import web

from .config import Config
from .poller import Poller, new_state
from .state import State
from .web import make_app

log = logging.getLogger("exporter")


class Exporter:
    """Polls every workspace of `config` and serves the result over HTTP."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.state: State = new_state(config)
        self.poller = Poller(config, self.state)
        self.runner: web.AppRunner | None = None
        self.port = 0

    async def start(self) -> None:
        """Bind the web server first (fail fast on a busy port), then start polling."""
        self.runner = web.AppRunner(
            make_app(self.state), handle_signals=False, access_log=None, shutdown_timeout=0.5
        )
        await self.runner.setup()
        site = web.TCPSite(self.runner, self.config.listen_host, self.config.listen_port)
        try:
            await site.start()
        except OSError:
            await self.runner.cleanup()
            raise
        self.port = self.runner.addresses[0][1]
        await self.poller.open()
        self.poller.start()
        log.info(
            "listening on %s:%d, polling %d workspace(s)",
            self.config.listen_host,
            self.port,
            len(self.config.workspaces),
        )

    async def stop(self) -> None:
        await self.poller.close()
        if self.runner is not None:
            await self.runner.cleanup()
        log.info("stopped")

    @property
    def url(self) -> str:
        host = self.config.listen_host
        if host in ("0.0.0.0", "::", ""):
            host = "127.0.0.1"
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"
