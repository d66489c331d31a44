"""A fixed credential is picked up at the fast cadence: the real CLI with a token file, and
in-process runs for a wrong token, a password file and a server error (issue 36, item 1).

statistics_interval is an hour in each run: before, a failed statistics.list waited that long
for its next try, so reaching rocketchat_up 1 within the deadline proves the retry."""

from __future__ import annotations

import asyncio
import dataclasses
import signal
import sys
import time
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

import aiohttp

from exporter.demo.server import FakeRocketChat
from exporter.model.config import PasswordAuth, TokenAuth

from conftest import (
    DEADLINE,
    Running,
    fast_config,
    free_port,
    parse_exposition,
    value,
    wait_for,
    with_auth,
)

HOUR = 3600.0


async def _page(session: aiohttp.ClientSession, url: str) -> str:
    async with session.get(url) as response:
        return await response.text()


async def test_a_token_file_written_after_start_is_used_within_a_poll_interval(
    fake: FakeRocketChat, tmp_path: Path
) -> None:
    """The operator's case: the exporter runs, the token file is missing (the page names its
    path and when the next try is), the file is written: up within poll_interval + timeout,
    the old error gone from the page."""
    workspace = next(iter(fake.workspaces.values()))
    token_file = tmp_path / "secrets" / "rc.token"
    port = free_port()
    config = tmp_path / "config.yaml"
    config.write_text(
        f"listen: 127.0.0.1:{port}\npoll_interval: 1s\nstatistics_interval: 1h\ntimeout: 2s\n"
        f"workspaces:\n  - name: {workspace.name}\n    url: {fake.url_of(workspace.name)}\n"
        f"    auth: {{user_id: {workspace.user_id}, token_file: {token_file}}}\n"
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "exporter", "--config", str(config),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    page_url = f"{base}/workspace/{workspace.name}"
    try:
        async with aiohttp.ClientSession() as session:

            async def up() -> float | None:
                try:
                    text = await _page(session, f"{base}/metrics")
                except aiohttp.ClientError:
                    return None
                return value(parse_exposition(text), "rocketchat_up", workspace=workspace.name)

            await wait_for(lambda: _equals(up(), 0.0), "down while the token file is missing")
            page = await _page(session, page_url)
            assert f"token_file {token_file} cannot be read" in page
            assert "next try" in page

            token_file.parent.mkdir()
            token_file.write_text(workspace.token + "\n")
            fixed = time.monotonic()
            await wait_for(lambda: _equals(up(), 1.0), "up once the file is written")
            took = time.monotonic() - fixed

            async def error_gone() -> bool:  # every endpoint's, the optional ones' too
                return "cannot be read" not in await _page(session, page_url)

            await wait_for(error_gone, "the old error gone from the workspace page")
            # poll_interval + timeout (3 s) is the target; the deadline is for a loaded machine
            print(f"up {took:.1f} s after the token file was written")
    finally:
        process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(process.wait(), timeout=DEADLINE)


async def _equals(pending: Awaitable[float | None], expected: float) -> bool:
    return await pending == expected


async def _up(run: Running, name: str) -> float | None:
    return value(await run.samples(), "rocketchat_up", workspace=name)


async def test_a_wrong_token_corrected_in_its_file_is_used_at_the_next_try(
    fake: FakeRocketChat, exporter_for: Any, tmp_path: Path
) -> None:
    workspace = next(iter(fake.workspaces.values()))
    token_file = tmp_path / "token"
    token_file.write_text("not-the-token\n")
    config = with_auth(
        fast_config(fake, poll_interval=0.3, statistics_interval=HOUR),
        workspace.name,
        TokenAuth(user_id=workspace.user_id, token_file=token_file),
    )
    run: Running = await exporter_for(config)
    await wait_for(lambda: _equals(_up(run, workspace.name), 0.0), "down with a wrong token")
    before = workspace.requests["statistics.list"]
    token_file.write_text(workspace.token)
    await wait_for(lambda: _equals(_up(run, workspace.name), 1.0), "up with the right token")
    assert workspace.requests["statistics.list"] > before


async def test_a_password_file_corrected_during_the_login_backoff_is_tried_at_once(
    fake: FakeRocketChat, exporter_for: Any, tmp_path: Path
) -> None:
    """A failed login backs off (up to 5 min) for the same password; a changed file is a new
    password and is tried at the next poll."""
    workspace = next(iter(fake.workspaces.values()))
    password_file = tmp_path / "password"
    password_file.write_text("wrong-password")
    config = with_auth(
        fast_config(fake, poll_interval=0.3, statistics_interval=HOUR),
        workspace.name,
        PasswordAuth(username=workspace.username, password_file=password_file),
    )
    run: Running = await exporter_for(config)
    await wait_for(lambda: _equals(_up(run, workspace.name), 0.0), "down with a wrong password")
    await wait_for(lambda: workspace.requests["login"] >= 2, "a second login (backoff 5 s)")
    password_file.write_text(workspace.password)
    await wait_for(lambda: _equals(_up(run, workspace.name), 1.0), "up with the right password")


async def test_a_server_error_on_statistics_is_retried_at_poll_interval(
    fake: FakeRocketChat, exporter_for: Any
) -> None:
    """A 5xx on statistics.list (an hour's interval) is tried again at poll_interval; once it
    answers, the next poll is back on the hour's phase (no more fast polls)."""
    workspace = next(iter(fake.workspaces.values()))
    config = fast_config(fake, poll_interval=0.3, statistics_interval=HOUR)
    config = dataclasses.replace(
        config, workspaces=tuple(w for w in config.workspaces if w.name == workspace.name)
    )
    workspace.down = 502
    run: Running = await exporter_for(config)
    await wait_for(lambda: _equals(_up(run, workspace.name), 0.0), "down on 502")
    status, page, _ = await run.get(f"/workspace/{workspace.name}")
    assert status == 200 and "http_5xx" in page and "next try" in page
    workspace.down = 0
    await wait_for(lambda: _equals(_up(run, workspace.name), 1.0), "up once it answers")
    answered = workspace.requests["statistics.list"]
    # a few instances.get polls later, statistics.list has not been asked again
    polls = workspace.requests["instances.get"]
    await wait_for(lambda: workspace.requests["instances.get"] >= polls + 3, "three more polls")
    assert workspace.requests["statistics.list"] == answered
    assert not run.exporter.poller.schedules[(workspace.name, "statistics.list")].retrying
