"""NO_PROXY as curl reads it, and a proxy's refusals named as the proxy's: the pure reading
against a table of curl's verdicts, then the forms that matter in practice end to end through
a logging forward proxy (tests/proxy.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from exporter.model.config import Secret, TokenAuth, WorkspaceConfig
from exporter.rocketchat.client import RocketChatClient
from exporter.rocketchat.errors import PollError
from exporter.rocketchat.transport import Sessions, no_proxy_bypass

from proxy import ForwardProxy


@pytest.mark.parametrize(
    ("host", "no_proxy", "direct"),
    [
        # addresses and CIDR ranges (curl 7.86+), IPv4 and IPv6
        ("10.1.2.3", "10.0.0.0/8", True),
        ("10.1.2.3", "10.0.0.0/8,192.168.0.0/16", True),
        ("11.1.2.3", "10.0.0.0/8", False),
        ("127.0.0.1", "127.0.0.1/32", True),
        ("127.0.0.1", "127.0.0.1", True),
        ("127.0.0.2", "127.0.0.1", False),
        ("fd00::5", "fd00::/8", True),
        ("[fd00::5]", "fd00::/8", True),
        ("fe80::1", "fd00::/8", False),
        ("::1", "::1", True),
        ("::1", "[::1]", True),
        ("10.1.2.3", "::/0", False),  # another family never matches
        ("::ffff:10.1.2.3", "10.0.0.0/8", True),  # the IPv4-mapped form of a listed address
        # names: the name and its subdomains, with or without a leading dot
        ("example.com", "example.com", True),
        ("chat.example.com", "example.com", True),
        ("chat.example.com", ".example.com", True),
        ("example.com", ".example.com", True),
        ("badexample.com", "example.com", False),
        ("example.org", "example.com", False),
        ("Chat.Example.COM", "example.com", True),
        # a trailing dot, in the host or in the entry
        ("example.com.", "example.com", True),
        ("example.com", "example.com.", True),
        ("chat.example.com.", ".example.com.", True),
        # lists: commas, spaces, empty entries, `*`
        ("chat.example.com", " other.org , example.com ", True),
        ("chat.example.com", "other.org example.com", True),
        ("chat.example.com", ",,", False),
        ("anything", "*", True),
        ("10.1.2.3", "*", True),
        ("chat.example.com", "", False),
        ("chat.example.com", "not/a/cidr", False),
    ],
)
def test_no_proxy_forms_read_as_curl_reads_them(host: str, no_proxy: str, direct: bool) -> None:
    assert no_proxy_bypass(host, no_proxy) is direct


@pytest.fixture
async def server() -> AsyncIterator[TestServer]:
    async def answer(request: web.Request) -> web.Response:
        return web.json_response({"success": True})

    app = web.Application()
    app.router.add_get("/api/v1/x", answer)
    test_server = TestServer(app, host="127.0.0.1")
    await test_server.start_server()
    yield test_server
    await test_server.close()


def client_for(sessions: Sessions, url: str, **options: object) -> RocketChatClient:
    workspace = WorkspaceConfig(
        name="w",
        url=url,
        auth=TokenAuth(user_id="u1", token=Secret("tok-SECRET-123")),
        timeout=10.0,
        **options,  # type: ignore[arg-type]
    )
    return RocketChatClient(sessions, workspace, 1 << 20)


@pytest.mark.parametrize(
    ("host", "no_proxy", "via_proxy"),
    [
        ("127.0.0.1", "10.0.0.0/8,127.0.0.0/8", False),  # Kubernetes' usual form
        ("127.0.0.1", "127.0.0.1/32", False),
        ("127.0.0.1", "10.0.0.0/8", True),
        ("127.0.0.1", "::1/128", True),
        ("localhost", "localhost.", False),
        ("localhost", ".localhost", False),
        ("localhost", "*", False),
        ("localhost", "example.com", True),
    ],
)
async def test_no_proxy_forms_against_a_logging_proxy(
    server: TestServer,
    monkeypatch: pytest.MonkeyPatch,
    host: str,
    no_proxy: str,
    via_proxy: bool,
) -> None:
    proxy = ForwardProxy({"localhost": "127.0.0.1"})
    monkeypatch.setenv("HTTP_PROXY", await proxy.start())
    monkeypatch.setenv("NO_PROXY", no_proxy)
    sessions = Sessions(max_concurrency=4)  # after the environment is set: read once
    try:
        client = client_for(sessions, f"http://{host}:{server.port}")
        assert (await client.get("/api/v1/x")).body == {"success": True}
        assert bool(proxy.seen) is via_proxy, proxy.seen
    finally:
        proxy.close()
        await sessions.close()


async def refusing_proxy(status: int) -> tuple[asyncio.Server, str]:
    """A proxy that answers every request (absolute-form or CONNECT) with `status`."""

    async def refuse(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 %d No\r\nContent-Length: 0\r\n\r\n" % status)
        await writer.drain()
        writer.close()

    listening = await asyncio.start_server(refuse, "127.0.0.1", 0)
    return listening, f"http://127.0.0.1:{listening.sockets[0].getsockname()[1]}"


@pytest.mark.parametrize("scheme", ["http", "https"])
@pytest.mark.parametrize("setting", ["environment", "proxy_url"])
async def test_a_proxys_407_is_a_proxy_problem_naming_the_setting_that_chose_it(
    monkeypatch: pytest.MonkeyPatch, scheme: str, setting: str
) -> None:
    listening, url = await refusing_proxy(407)
    options: dict[str, object] = {}
    if setting == "environment":
        monkeypatch.setenv(f"{scheme.upper()}_PROXY", url)
    else:
        options["proxy_url"] = Secret(url)
    sessions = Sessions(max_concurrency=4)
    try:
        client = client_for(sessions, f"{scheme}://rocketchat.internal:3000", **options)
        with pytest.raises(PollError) as error:
            await client.get("/api/v1/x")
        named = f"{scheme.upper()}_PROXY" if setting == "environment" else "proxy_url"
        assert error.value.reason == "connection"
        assert "the proxy asks for credentials (HTTP 407)" in error.value.message
        assert named in error.value.message
        assert url not in error.value.message  # proxy_url may hold a password
    finally:
        listening.close()
        await sessions.close()


async def test_an_unreachable_proxy_for_an_http_url_names_http_proxy(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:1")
    sessions = Sessions(max_concurrency=4)
    try:
        with pytest.raises(PollError) as error:
            await client_for(sessions, "http://rocketchat.internal:3000").get("/api/v1/x")
        assert "cannot connect to the proxy; check HTTP_PROXY" in error.value.message
    finally:
        await sessions.close()
