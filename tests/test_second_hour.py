"""The operator's second hour (issue 36): the rules file in one place, runbook links that work
air-gapped, the demo as a rehearsal server, a listen address that does not move silently, the
whole URL of a wrong path, --check-config said to be offline."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from pathlib import Path
from typing import Any

import yaml

from exporter.alerts.catalogue import ALERTS
from exporter.alerts.files import RULES_PATH, rules_file
from exporter.demo.server import FakeRocketChat

from conftest import DEADLINE, fast_config, parse_exposition, value

REPO = Path(__file__).parent.parent


async def run_cli(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "exporter", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, **(env or {})},
    )  # fmt: skip
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return process.returncode, stdout.decode(), stderr.decode()


def test_the_rules_file_has_one_place_in_every_text_that_names_it() -> None:
    """README, the example prometheus.yml, the compose configs and the file's own header all
    put it at rules/rocketchat.rules.yml beside prometheus.yml."""
    example = yaml.safe_load((REPO / "prometheus" / "prometheus.example.yml").read_text())
    assert example["rule_files"] == [RULES_PATH]
    assert (REPO / "prometheus" / RULES_PATH).exists()  # beside the example, as it says
    for compose in ("prometheus.compose.yml", "prometheus.shards.yml"):
        config = yaml.safe_load((REPO / "prometheus" / compose).read_text())
        assert config["rule_files"] == [f"/etc/prometheus/{RULES_PATH}"], compose
    header = rules_file().split("groups:")[0]
    assert f"rule_files: [{RULES_PATH}]" in header and f"/etc/prometheus/{RULES_PATH}" in header
    readme = (REPO / "README.md").read_text()
    assert f"`{RULES_PATH}`" in readme and f"/etc/prometheus/{RULES_PATH}" in readme
    assert "next to your `prometheus.yml`" not in readme


async def test_print_rules_is_the_committed_file_and_a_base_url_points_runbooks_at_the_exporter(
    exporter_for: Any, fake: FakeRocketChat
) -> None:
    code, out, _ = await run_cli("--print-rules")
    committed = (REPO / "prometheus" / "rules" / "rocketchat.rules.yml").read_text()
    assert (code, out) == (0, committed)

    run = await exporter_for(fast_config(fake))
    base = run.exporter.url + "/runbooks"
    code, out, _ = await run_cli("--print-rules", "--runbook-base-url", base + "/")
    assert code == 0
    rules = yaml.safe_load(out)["groups"][0]["rules"]
    links = [rule["annotations"]["runbook_url"] for rule in rules]
    assert links == [f"{base}#{alert.anchor}" for alert in ALERTS]
    status, page, _ = await run.get("/runbooks")
    assert status == 200
    for link in links:  # every link lands on a section of the exporter's own page
        assert f'id="{link.partition("#")[2]}"' in page

    for wrong in ("ftp://x", "http://x/#a", "not a url"):
        code, _, err = await run_cli("--print-rules", "--runbook-base-url", wrong)
        assert code == 2 and "--runbook-base-url" in err
    code, _, err = await run_cli("--demo", "--runbook-base-url", base)
    assert code == 2 and "goes with --print-rules" in err


async def test_the_environment_moving_the_configs_listen_is_said_once_at_start(
    tmp_path: Path,
) -> None:
    config = tmp_path / "config.yaml"
    workspace = "  - {name: a, url: http://127.0.0.1:9, auth: {user_id: u, token: t}}\n"
    config.write_text(f"listen: 127.0.0.1:9100\nworkspaces:\n{workspace}")
    moved = {"ROCKETCHAT_EXPORTER_LISTEN": "0.0.0.0:9877"}
    code, _, err = await run_cli("--config", str(config), "--check-config", env=moved)
    assert code == 0
    assert "ROCKETCHAT_EXPORTER_LISTEN=0.0.0.0:9877 overrides the config's listen" in err
    # the same address, no listen: in the file, or an explicit --listen: nothing to say
    same = {"ROCKETCHAT_EXPORTER_LISTEN": "127.0.0.1:9100"}
    _, _, err = await run_cli("--config", str(config), "--check-config", env=same)
    assert "overrides" not in err
    _, _, err = await run_cli(
        "--config", str(config), "--check-config", "--listen", "0.0.0.0:9877", env=moved
    )
    assert "overrides" not in err
    config.write_text(f"workspaces:\n{workspace}")
    _, _, err = await run_cli("--config", str(config), "--check-config", env=moved)
    assert "overrides" not in err


async def test_check_config_says_it_is_offline_and_points_at_once() -> None:
    _, out, _ = await run_cli("--help")
    flat = " ".join(out.split())
    assert "offline check" in flat and "--once tries them" in flat


async def test_the_demo_rehearses_the_config_path_with_a_chosen_token(tmp_path: Path) -> None:
    """`--demo --demo-token T` logs where its simulated Rocket.Chat is; a config written as the
    README says (that url, user_id, a token file with T) passes --once against it."""
    token = "try-me-123"
    demo = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "exporter", "--demo", "--demo-token", token,
        "--listen", "127.0.0.1:0",  # its own port is not used here: none to race for
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert demo.stderr is not None
    drain: asyncio.Task[None] | None = None
    try:
        line = ""
        while "simulated Rocket.Chat on" not in line:
            raw = await asyncio.wait_for(demo.stderr.readline(), timeout=DEADLINE)
            assert raw, "the demo ended before saying where it is"
            line = raw.decode()
        assert token not in line  # the token is the operator's; never logged
        found = re.search(r"url (\S+), auth user_id (\S+) ", line)
        assert found is not None, line
        url, user_id = found.groups()

        async def keep_reading() -> None:
            assert demo.stderr is not None
            while await demo.stderr.readline():
                pass

        drain = asyncio.create_task(keep_reading())
        (tmp_path / "rc_token").write_text(token + "\n")
        config = tmp_path / "config.yaml"
        config.write_text(
            f"workspaces:\n  - name: rehearsal\n    url: {url}\n    auth:\n"
            f"      user_id: {user_id}\n      token_file: {tmp_path / 'rc_token'}\n"
        )
        code, _, err = await run_cli("--config", str(config), "--check-config")
        assert code == 0, err
        assert demo.returncode is None, f"the demo exited ({demo.returncode})"
        code, out, err = await run_cli("--config", str(config), "--once")
        assert code == 0, err
        assert value(parse_exposition(out), "rocketchat_up", workspace="rehearsal") == 1
    finally:
        demo.send_signal(signal.SIGTERM)
        await asyncio.wait_for(demo.wait(), timeout=DEADLINE)
        if drain is not None:
            drain.cancel()


async def test_once_names_the_whole_address_of_a_wrong_path(
    fake: FakeRocketChat, tmp_path: Path
) -> None:
    """A url that already ends in /api/v1 asks for /api/v1/api/v1/...: the error says so."""
    workspace = next(iter(fake.workspaces.values()))
    config = tmp_path / "config.yaml"
    url = fake.url_of(workspace.name) + "api/v1"
    config.write_text(
        f"workspaces:\n  - name: doubled\n    url: {url}\n"
        f"    auth: {{user_id: {workspace.user_id}, token: {workspace.token}}}\n"
    )
    code, _, err = await run_cli("--config", str(config), "--once")
    assert code == 1
    assert f"at {url}/api/v1/instances.get; check url" in err
    assert workspace.token not in err
