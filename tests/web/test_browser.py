"""The status page as a person sees it: headless Chromium (Debian package) against the demo."""

from __future__ import annotations

import asyncio
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from exporter.demo.landscape import config_for, demo_workspaces
from exporter.demo.server import FakeRocketChat

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,900",
]


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    pytest.fail("chromium not found: install the Debian package 'chromium' (make test does)")


async def run_chromium(*args: str, profile: Path) -> str:
    process = await asyncio.create_subprocess_exec(
        chromium(),
        *FLAGS,
        f"--user-data-dir={profile}",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode == 0, stderr.decode()[-2000:]
    return stdout.decode()


async def test_status_page_renders_every_workspace_and_the_disconnected_instance(
    exporter_for: Any, tmp_path: Path
) -> None:
    fake = FakeRocketChat(demo_workspaces())
    await fake.start()
    try:
        run = await exporter_for(config_for(fake, poll_interval=0.5, statistics_interval=0.5))
        await run.wait_until(
            lambda s: sum(1 for k in s if k[0] == "rocketchat_up") == 8, "every workspace polled"
        )
        url = run.exporter.url + "/"
        dom = await run_chromium("--dump-dom", url, profile=tmp_path / "profile-dom")
        screenshot = tmp_path / "status.png"
        await run_chromium(f"--screenshot={screenshot}", url, profile=tmp_path / "profile-shot")
    finally:
        await fake.stop()
    text = re.sub(r"<[^>]+>", " ", re.sub(r"</?bdi>", "", dom))  # bdi: inline isolation
    for name in (
        "acme-prod",
        "acme-staging",
        "acme-eu",
        "acme-us",
        "acme-dr",
        "legacy",
        "ancient",
        "community",
    ):
        assert name in text
    assert "3/4 connected" in text and "instance disconnected: 10.40.2.13:3000" in text
    assert "2 instance(s); links not reported by this server" in text  # Community Edition
    assert "8.8.1" in text and "3.10.5" in text
    assert screenshot.stat().st_size > 10_000
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


async def test_the_fleet_table_fits_a_phone_without_sideways_scrolling(
    exporter_for: Any, tmp_path: Path
) -> None:
    """At 390 px (a phone) each workspace is a card of labelled lines, the page no wider than
    the screen, the table no wider than its box (which would scroll sideways). Measured in
    Chromium (whose headless window is at least 500 px wide): the page in a 390 px frame, with
    one line of script that writes the widths into the parent, read back with --dump-dom."""
    fake = FakeRocketChat(demo_workspaces())
    await fake.start()
    runner = None
    try:
        run = await exporter_for(config_for(fake, poll_interval=0.5, statistics_interval=0.5))
        await run.wait_until(
            lambda s: sum(1 for k in s if k[0] == "rocketchat_up") == 8, "every workspace polled"
        )
        _, page, _ = await run.get("/")
        probe = (
            "<script>addEventListener('load',function(){var d=document.documentElement,"
            "t=document.querySelector('.scroll');parent.document.body.setAttribute('data-width',"
            "Math.max(d.scrollWidth,t.scrollWidth)+'/'+d.clientWidth)})</script>"
        )
        frame = '<html><body><iframe src="/page" style="width:390px;height:844px;border:0">'
        pages = {"/": frame + "</iframe></body></html>", "/page": page.replace("</body>", probe)}

        async def serve(request: web.Request) -> web.Response:
            return web.Response(text=pages[request.path], content_type="text/html")

        app = web.Application()
        app.router.add_get("/{tail:.*}", serve)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        dom = await run_chromium(
            "--virtual-time-budget=5000", "--dump-dom", f"http://127.0.0.1:{port}/",
            profile=tmp_path / "profile-phone",
        )  # fmt: skip
    finally:
        if runner is not None:
            await runner.cleanup()
        await fake.stop()
    measured = re.search(r'data-width="(\d+)/(\d+)"', dom)
    assert measured is not None, dom[-500:]
    scroll, client = int(measured.group(1)), int(measured.group(2))
    assert client <= 390 and scroll <= client, (scroll, client)
