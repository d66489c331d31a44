"""The operator's seat: standard self-metrics, the example config shipped in the package, the
Docker instructions, and the generated Kubernetes manifests."""

from __future__ import annotations

import asyncio
import gzip
import json
import re
import subprocess
import sys
import time
import zlib
from pathlib import Path
from typing import Any

import aiohttp
import yaml

from exporter import __version__
from exporter.demo.fleet import FakeInstance, FakeWorkspace, make_statistics
from exporter.demo.server import FakeRocketChat

from conftest import fast_config, parse_exposition, promtool, promtool_check_metrics, value

SELF_METRICS = (
    "process_cpu_seconds_total",
    "process_resident_memory_bytes",
    "process_virtual_memory_bytes",
    "process_open_fds",
    "process_max_fds",
    "process_start_time_seconds",
    "python_info",
    "python_gc_objects_collected_total",
    "python_gc_collections_total",
)


async def test_self_metrics_are_prometheus_clients_own_in_plain_and_in_one_gzip_member(
    fake: FakeRocketChat, exporter_for: Any
) -> None:
    run = await exporter_for(fast_config(fake))
    samples = await run.wait_until(
        lambda s: value(s, "rocketchat_up", workspace="new") == 1, "new up"
    )
    names = {name for name, _labels in samples}
    assert set(SELF_METRICS) <= names
    assert value(samples, "process_open_fds") and value(samples, "process_max_fds")
    async with aiohttp.ClientSession(auto_decompress=False) as raw:
        headers = {"Accept-Encoding": "gzip"}
        async with raw.get(run.exporter.url + "/metrics", headers=headers) as resp:
            assert resp.headers["Content-Encoding"] == "gzip"
            body = await resp.read()
    single = zlib.decompressobj(16 + zlib.MAX_WBITS)  # one member: nothing left over
    text = single.decompress(body).decode()
    assert single.eof and single.unused_data == b""
    assert text == gzip.decompress(body).decode()
    gz_names = {name for name, _labels in parse_exposition(text)}
    assert set(SELF_METRICS) <= gz_names and "rocketchat_up" in gz_names
    promtool_check_metrics(text)


# -- Docker: the README's instructions, checked without a Docker engine -------------------------

REPO = Path(__file__).parent.parent.parent
README = (REPO / "README.md").read_text()
IMAGE = f"rocketchat-prometheus-exporter:{__version__}"


def docker_section() -> str:
    return README.split("**With Docker:**")[1].split("**Everything at once:**")[0]


def test_one_image_name_everywhere() -> None:
    """README, Dockerfile, compose files and Kubernetes manifests name the same image."""
    names = set(re.findall(r"rocketchat-prometheus-exporter:[\w.]+", docker_section()))
    for path in (
        REPO / "Dockerfile",
        REPO / "docker-compose.example.yml",
        *REPO.glob("deploy/**/*.y*ml"),
    ):
        text = path.read_text()
        names |= set(re.findall(r"rocketchat-prometheus-exporter:[\w.]+", text))
        for line in text.splitlines():  # no other spelling of our image
            if re.search(r"image:\s*\S*rocketchat-exporter\b|-t rocketchat-exporter\b", line):
                raise AssertionError(f"{path.name}: {line.strip()}")
    assert names == {IMAGE}
    assert "docker build -t rocketchat-exporter " not in README


async def test_the_readme_docker_run_works_as_written(fake: FakeRocketChat, tmp_path: Path) -> None:
    """The config written by the README's heredoc, with the mounts of its docker run mapped to
    local files, passes --check-config and polls a (fake) Rocket.Chat; the paths it mounts are
    the ones the image reads; the image's user is uid 10001, as the README says."""
    section = docker_section()
    heredoc = section.split("cat > config.yaml <<'EOF'\n")[1].split("\nEOF\n")[0]
    mounts = dict(
        (target, source) for source, target in re.findall(r'-v "\$PWD/([^:]+):([^:]+):ro"', section)
    )
    dockerfile = (REPO / "Dockerfile").read_text()
    default_config = json.loads(dockerfile.split("\nCMD ")[1].splitlines()[0])[1]
    assert mounts[default_config] == "config.yaml"
    config = yaml.safe_load(heredoc)
    (workspace,) = config["workspaces"]
    assert mounts[workspace["auth"]["token_file"]] == "rc_token"
    assert "USER 10001:10001" in dockerfile and "uid 10001" in section
    assert "sudo chown 10001 rc_token" in section
    # the same files, with the placeholders filled in for the fake server
    served = fake.workspaces["new"]
    token = tmp_path / "rc_token"
    token.write_text(served.token)
    workspace["url"] = fake.url_of("new")
    workspace["auth"] = {"user_id": served.user_id, "token_file": str(token)}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    for flags in (["--check-config"], ["--once"]):  # the fake answers from this test's loop
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "exporter", "--config", "config.yaml", *flags,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, cwd=tmp_path,
        )  # fmt: skip
        stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=120)
        assert process.returncode == 0, stderr.decode()
    assert 'rocketchat_up{workspace="prod"} 1' in stdout.decode()


async def test_the_readmes_config_section_scrapes_a_community_workspace(tmp_path: Path) -> None:
    """A newcomer's path, README only: its config (the user id and token file filled in, as
    the account steps produce them) and its check commands, against a simulated Community
    Edition workspace (7.11, links not reported, no license)."""
    section = README.split("### The config, and a check")[1].split("## 2.")[0]
    config = yaml.safe_load(section.split("```yaml\n")[1].split("```")[0])
    commands = section.split("```sh\n")[2].split("```")[0].splitlines()
    community = FakeWorkspace(
        name="community",
        shape="B-ce",
        instances=[FakeInstance("ce-1", "10.9.0.1"), FakeInstance("ce-2", "10.9.0.2")],
        statistics=[make_statistics("7.11.0", time.time() - 3600, 120)],
    )
    server = FakeRocketChat([community])
    await server.start()
    try:
        (workspace,) = config["workspaces"]
        token = tmp_path / "rc_token"
        token.write_text(community.token)
        workspace["url"] = server.url_of("community")
        workspace["auth"] = {"user_id": community.user_id, "token_file": str(token)}
        (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
        outputs = []
        for command in commands[:2]:  # --check-config, then --once
            args = command.split("#")[0].split()[1:]
            assert args[:2] == ["--config", "config.yaml"]
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "exporter", *args,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, cwd=tmp_path,
            )  # fmt: skip
            stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=120)
            assert process.returncode == 0, stderr.decode()
            outputs.append(stdout.decode())
        assert 'rocketchat_up{workspace="prod"} 1' in outputs[1]  # what the README says to see
        assert 'rocketchat_workspace_links_reported{workspace="prod"} 0' in outputs[1]
    finally:
        await server.stop()


# -- Kubernetes: the PrometheusRule and the dashboard ConfigMap, generated ---------------------


def test_kubernetes_rule_and_dashboard_are_generated_from_their_sources(tmp_path: Path) -> None:
    generator = REPO / "deploy" / "kubernetes" / "generate.py"
    done = subprocess.run(
        [sys.executable, str(generator), "--check"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout
    rule = yaml.safe_load((REPO / "deploy" / "kubernetes" / "prometheus-rule.yaml").read_text())
    assert rule["kind"] == "PrometheusRule"
    sources = yaml.safe_load((REPO / "prometheus" / "rules" / "rocketchat.rules.yml").read_text())
    assert rule["spec"]["groups"] == sources["groups"]
    (tmp_path / "rules.yml").write_text(yaml.safe_dump({"groups": rule["spec"]["groups"]}))
    checked = subprocess.run(
        [promtool(), "check", "rules", str(tmp_path / "rules.yml")],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert checked.returncode == 0, checked.stdout + checked.stderr
    configmap = yaml.safe_load(
        (REPO / "deploy" / "kubernetes" / "grafana-dashboard.yaml").read_text()
    )
    assert configmap["metadata"]["labels"]["grafana_dashboard"] == "1"
    dashboard = REPO / "grafana" / "dashboards" / "rocketchat.json"
    assert json.loads(configmap["data"]["rocketchat.json"]) == json.loads(dashboard.read_text())
