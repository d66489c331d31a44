"""The command line as a user runs it: real processes, real signals, real HTTP."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from exporter import __version__
from exporter.demo.server import FakeRocketChat

from conftest import (
    DEADLINE,
    free_port,
    parse_exposition,
    promtool_check_metrics,
    series,
    value,
    wait_for,
)
from contract import ALL_METRICS
from faults import hang
from proxy import ForwardProxy

REPO = Path(__file__).parent.parent


async def run_cli(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "exporter",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, **(env or {})},
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return process.returncode, stdout.decode(), stderr.decode()


def write_config(tmp_path: Path, fake: FakeRocketChat, **extra: str) -> Path:
    lines = ["timeout: 2s", "workspaces:"]
    for workspace in fake.workspaces.values():
        token_file = tmp_path / f"{workspace.name}.token"
        token_file.write_text(workspace.token + "\n")
        lines += [
            f"  - name: {workspace.name}",
            f"    url: {fake.url_of(workspace.name)}",
            f"    auth: {{user_id: {workspace.user_id}, token_file: {token_file}}}",
        ]
    lines += [f"{key}: {val}" for key, val in extra.items()]
    path = tmp_path / "config.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


async def test_version_and_help_list_every_flag_of_the_contract() -> None:
    code, out, _ = await run_cli("--version")
    assert (code, out.strip()) == (0, f"rocketchat-exporter {__version__}")
    code, out, _ = await run_cli("--help")
    assert code == 0
    for flag in [
        "--config",
        "--listen",
        "--log-level",
        "--log-format",
        "--check-config",
        "--once",
        "--demo",
        "--version",
    ]:
        assert flag in out


async def test_missing_config_is_a_usage_error() -> None:
    code, _, err = await run_cli()
    assert code == 2
    assert "--config PATH is required" in err


async def test_once_prints_valid_exposition_and_exits_0_when_all_up(
    fake: FakeRocketChat, tmp_path: Path
) -> None:
    code, out, err = await run_cli("--config", str(write_config(tmp_path, fake)), "--once")
    assert code == 0, err
    samples = parse_exposition(out)
    for name in fake.workspaces:
        assert value(samples, "rocketchat_up", workspace=name) == 1
    assert value(samples, "rocketchat_instances", workspace="new") == 3
    promtool_check_metrics(out)


async def test_a_workspace_behind_http_proxy_is_reached_and_one_in_no_proxy_polled_directly(
    fake: FakeRocketChat, tmp_path: Path
) -> None:
    """The real exporter with HTTP_PROXY and NO_PROXY in its environment: `old` has a name only
    the proxy resolves, `new` is on 127.0.0.1, which NO_PROXY lists."""
    proxy = ForwardProxy({"rocketchat.internal": "127.0.0.1"})
    proxy_url = await proxy.start()
    path = write_config(tmp_path, fake)
    hidden = fake.url_of("old").replace("127.0.0.1", "rocketchat.internal")
    path.write_text(path.read_text().replace(fake.url_of("old"), hidden))
    del fake.workspaces["strings"]
    text = path.read_text()
    path.write_text(text[: text.index("  - name: strings")])
    try:
        env = {"HTTP_PROXY": proxy_url, "NO_PROXY": "127.0.0.1", "no_proxy": "127.0.0.1"}
        code, out, err = await run_cli("--config", str(path), "--once", env=env)
    finally:
        proxy.close()
    assert code == 0, err
    samples = parse_exposition(out)
    assert value(samples, "rocketchat_up", workspace="old") == 1
    assert value(samples, "rocketchat_up", workspace="new") == 1
    assert proxy.seen and all(url.startswith(hidden) for url in proxy.seen)
    assert not any("/new/" in url for url in proxy.seen)


async def test_once_exits_1_when_a_workspace_is_down(fake: FakeRocketChat, tmp_path: Path) -> None:
    fake.workspaces["old"].overrides["instances.get"] = hang()
    code, out, err = await run_cli("--config", str(write_config(tmp_path, fake)), "--once")
    assert code == 1
    samples = parse_exposition(out)
    assert value(samples, "rocketchat_up", workspace="old") == 0
    assert value(samples, "rocketchat_up", workspace="new") == 1
    assert "timeout" in err
    for workspace in fake.workspaces.values():
        assert workspace.token not in out + err


async def test_check_config_prints_ok(fake: FakeRocketChat, tmp_path: Path) -> None:
    code, out, _ = await run_cli("--config", str(write_config(tmp_path, fake)), "--check-config")
    assert (code, out) == (0, "ok\n")


async def test_example_config_passes_check_config(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("t")
    env = {"RC_USER_ID": "u", "RC_TOKEN_FILE": str(token), "RC_PASSWORD": "p"}
    code, out, err = await run_cli(
        "--config", str(REPO / "config.example.yaml"), "--check-config", env=env
    )
    assert (code, out, err) == (0, "ok\n", "")


async def scrape_until(url: str, check: Any) -> str:
    latest = ""

    async def ready() -> bool:
        nonlocal latest
        try:
            async with aiohttp.ClientSession() as session, session.get(url) as resp:
                latest = await resp.text()
                return resp.status == 200 and bool(check(latest))
        except aiohttp.ClientError:
            return False

    await wait_for(ready, f"{url} to satisfy the check")
    return latest


async def test_demo_serves_every_contract_metric_and_stops_on_sigterm_within_2s() -> None:
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "exporter",
        "--demo",
        "--listen",
        f"127.0.0.1:{port}",
        "--log-format",
        "json",
        "--log-level",
        "debug",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stderr is not None
    lines: list[bytes] = []
    logs = asyncio.create_task(read_lines(process.stderr, lines))
    try:
        await scrape_until(f"http://127.0.0.1:{port}/ready", lambda body: "ready" in body)
        expected = set(ALL_METRICS) - {"rocketchat_exporter_poll_errors_total"}  # no errors

        def missing(text: str) -> list[str]:
            return sorted(expected - {name for name, _ in parse_exposition(text)})

        # the optional collectors start after /ready (after each workspace's core polls)
        text = await scrape_until(f"http://127.0.0.1:{port}/metrics", lambda t: not missing(t))
        samples = parse_exposition(text)
        disconnected = [
            labels
            for labels in series(samples, "rocketchat_instance_connected")
            if value(samples, "rocketchat_instance_connected", **labels) == 0
        ]
        assert len(disconnected) == 1
        assert len({labels["workspace"] for labels in series(samples, "rocketchat_up")}) >= 3
        # once the first round was in (and /ready answered), its long-lived heap is frozen
        await wait_for(lambda: any(b'"froze ' in line for line in lines), "gctune.settle")
    finally:
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(process.wait(), timeout=DEADLINE)
        elapsed = time.monotonic() - started
        await logs
    stderr = b"".join(lines).decode()
    assert process.returncode == 0, stderr
    assert elapsed < 2.0 + 1.0  # contract: within 2 s (+1 s slack for a loaded machine)
    entries = [json.loads(line) for line in stderr.splitlines()]
    for entry in entries:  # --log-format json: every line is one JSON object
        assert {"time", "level", "logger", "message"} <= set(entry)
    assert any(e["logger"] == "exporter.gc" and e["message"].startswith("froze") for e in entries)


async def read_lines(stream: asyncio.StreamReader, lines: list[bytes]) -> None:
    """Collect a child's output lines as they come (until it closes the stream)."""
    while line := await stream.readline():
        lines.append(line)


async def test_busy_listen_port_is_a_clear_error(fake: FakeRocketChat, tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        config = write_config(tmp_path, fake)
        code, _, err = await run_cli("--config", str(config), "--listen", f"127.0.0.1:{port}")
    assert code == 1
    assert f"cannot listen on 127.0.0.1:{port}" in err
    assert "Traceback" not in err


@pytest.mark.parametrize("listen", ["nohost", "127.0.0.1:http", "1.2.3.4:70000"])
async def test_bad_listen_flag_exits_2(listen: str) -> None:
    code, _, err = await run_cli("--demo", "--listen", listen)
    assert code == 2
    assert err.startswith("--listen: ")


async def test_the_listen_address_from_the_environment_is_served_and_health_checked(
    fake: FakeRocketChat, tmp_path: Path
) -> None:
    """The image sets ROCKETCHAT_EXPORTER_LISTEN; the exporter listens there and the
    HEALTHCHECK (`python -m exporter.healthcheck`, no port) asks there."""
    port = free_port()
    env = {**os.environ, "ROCKETCHAT_EXPORTER_LISTEN": f"127.0.0.1:{port}"}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "exporter", "--config", str(write_config(tmp_path, fake)),
        env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    try:

        async def healthy(environment: dict[str, str]) -> int:
            check = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "exporter.healthcheck", env=environment
            )
            return await asyncio.wait_for(check.wait(), timeout=60)

        await wait_for(lambda: _zero(healthy(env)), "healthy at the address from the environment")
        elsewhere = {**env, "ROCKETCHAT_EXPORTER_LISTEN": f"0.0.0.0:{free_port()}"}
        assert await healthy(elsewhere) == 1
        code, _, err = await run_cli(
            "--demo", "--check-config", env={"ROCKETCHAT_EXPORTER_LISTEN": "nope"}
        )
        assert code == 2 and "ROCKETCHAT_EXPORTER_LISTEN: expected HOST:PORT" in err
    finally:
        process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(process.wait(), timeout=DEADLINE)


async def _zero(pending: Any) -> bool:
    return bool(await pending == 0)
