"""The status page as a person sees it: headless Chromium (Debian package) against the demo."""

from __future__ import annotations

import asyncio
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

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
