"""A simulated Rocket.Chat: several workspaces under path prefixes on one loopback port.

It answers like the real server, version by version: both instances.get shapes, numbers as
strings (docs style), token and password auth, statistics.list paging and sorting (default
order = oldest first). Failures are scripted per endpoint in tests (tests/faults.py); the data is in
fleet.py, the demo's landscape in landscape.py.
"""

from __future__ import annotations

import asyncio
import secrets
import socket
import ssl
from typing import Any

from aiohttp import web

from exporter.demo.collectors import collector_answer, health_answer
from exporter.demo.fleet import FakeInstance, FakeWorkspace

ERROR_401 = {
    "success": False,
    "error": "You must be logged in to do this.",
    "status": "error",
    "message": "You must be logged in to do this.",
}


class FakeRocketChat:
    """An aiohttp server answering for several FakeWorkspaces under /ws/<name>."""

    def __init__(self, workspaces: list[FakeWorkspace]) -> None:
        self.workspaces = {w.name: w for w in workspaces}
        self.app = web.Application()
        self.app.router.add_route("*", "/{tail:.*}", self._dispatch)
        self.runner: web.AppRunner | None = None
        self.health_runners: list[web.AppRunner] = []
        self.base_url = ""

    async def start(
        self, host: str = "127.0.0.1", port: int = 0, ssl_context: ssl.SSLContext | None = None
    ) -> str:
        self.runner = web.AppRunner(
            self.app, access_log=None, handle_signals=False, shutdown_timeout=0.5
        )
        await self.runner.setup()
        site = web.TCPSite(self.runner, host, port, ssl_context=ssl_context)
        await site.start()
        bound_port = self.runner.addresses[0][1]
        scheme = "https" if ssl_context else "http"
        self.base_url = f"{scheme}://{host}:{bound_port}"
        return self.base_url

    async def stop(self) -> None:
        for runner in self.health_runners:
            await runner.cleanup()
        if self.runner is not None:
            await self.runner.cleanup()

    def url_of(self, name: str) -> str:
        return f"{self.base_url}/ws/{name}/"

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        if request.path.endswith("/api/info"):  # /api/info, not under /api/v1 (and no auth)
            prefix, sep, method = request.path.removesuffix("/api/info"), "/", "info"
        else:
            prefix, sep, method = request.path.partition("/api/v1/")
        name = prefix.removeprefix("/ws/")
        workspace = self.workspaces.get(name)
        if not sep or workspace is None or not prefix.startswith("/ws/"):
            return web.json_response({"success": False, "error": "not found"}, status=404)
        workspace.requests[method] += 1
        if workspace.down:
            return web.Response(
                status=workspace.down, text="<html>maintenance</html>", content_type="text/html"
            )
        if workspace.latency:
            await asyncio.sleep(workspace.latency)
        override = workspace.overrides.get(method)
        if override is not None:
            return await override(request)
        if method == "login" and request.method == "POST":
            return await self._login(workspace, request)
        if method == "info":
            return web.json_response(workspace.info_body(workspace.authorized(request)))
        if not workspace.authorized(request):
            return web.json_response(ERROR_401, status=401)
        if method == "instances.get":
            return web.json_response(workspace.instances_body())
        if method == "statistics.list":
            query = dict(request.query)
            workspace.statistics_queries.append(query)
            status, body = workspace.statistics_body(query)
            return web.json_response(body, status=status)
        return collector_answer(workspace, method)

    async def _login(self, workspace: FakeWorkspace, request: web.Request) -> web.StreamResponse:
        try:
            body = await request.json()
        except ValueError:
            body = {}
        user = body.get("user") or body.get("username")
        ok = user == workspace.username and body.get("password") == workspace.password
        if not ok:
            error = {"status": "error", "error": "Unauthorized", "message": "Unauthorized"}
            return web.json_response(error, status=401)
        token = secrets.token_urlsafe(32)
        workspace.login_tokens.add(token)
        data = {"userId": workspace.user_id, "authToken": token, "me": {"username": user}}
        return web.json_response({"status": "success", "data": data})


async def start_health(
    server: FakeRocketChat, host: str = "127.0.0.1", only: set[str] | None = None
) -> None:
    """Give every instance (of the workspaces named in `only`, default all) whose health is
    not "down" its own listener (its process's port), on its host when that is a loopback
    address (127.0.0.N), else on `host`; the instance's host and port then point at it."""
    for workspace in server.workspaces.values():
        if only is not None and workspace.name not in only:
            continue
        for instance in workspace.instances:
            if instance.health == "down":  # a port nothing listens on: refused at once
                with socket.socket() as probe:
                    probe.bind((host, 0))
                    instance.host, instance.port = host, str(probe.getsockname()[1])
                continue
            bind = instance.host if instance.host.startswith("127.") else host
            app = web.Application()
            app.router.add_get("/{route:(livez|health|readyz)}", _handler(workspace, instance))
            app.router.add_get("/api/v1/instances.get", _own_view(workspace, instance))
            runner = web.AppRunner(app, access_log=None, handle_signals=False)
            await runner.setup()
            await web.TCPSite(runner, bind, 0).start()
            server.health_runners.append(runner)
            instance.host, instance.port = bind, str(runner.addresses[0][1])


def _own_view(workspace: FakeWorkspace, instance: FakeInstance) -> Any:
    """The instance's own instances.get (what the links collector asks), with the same
    credentials as the workspace's API."""

    async def answer(request: web.Request) -> web.StreamResponse:
        workspace.requests[f"{instance.instance_id}/api/v1/instances.get"] += 1
        if not workspace.authorized(request):
            return web.json_response(ERROR_401, status=401)
        body = workspace.instances_body(viewer=instance)
        if instance.view_padding:
            body["padding"] = "x" * instance.view_padding
        return web.json_response(body)

    return answer


def _handler(workspace: FakeWorkspace, instance: FakeInstance) -> Any:
    async def answer(request: web.Request) -> web.StreamResponse:
        workspace.requests[f"{instance.instance_id}{request.path}"] += 1
        if "X-Auth-Token" in request.headers or "X-User-Id" in request.headers:
            workspace.requests[f"credentials {instance.instance_id}"] += 1
        return health_answer(workspace, instance, request.path)

    return answer
