"""Config loading: one broken file per mistake in conffiles/bad, each with its expected lines."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from exporter.config.check import MAX_PROBLEMS
from exporter.config.load import load_config
from exporter.model.config import ConfigError, PasswordAuth, Secret, TokenAuth, parse_listen
from exporter.model.units import parse_duration, parse_size

HERE = Path(__file__).parent
BAD = sorted((HERE / "conffiles" / "bad").glob("*.yaml"))
# unusable token/password files: they fail their workspace at a start, --check-config fails
SECRETS = sorted((HERE / "conffiles" / "secrets").glob("*.yaml"))
REPO = HERE.parent.parent
SECRET_TOKEN = "s3cr3t-T0KEN-value-never-shown"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    token = tmp_path / "token"
    token.write_text(f"  {SECRET_TOKEN}\n")
    empty = tmp_path / "empty"
    empty.write_text("\n")
    control = tmp_path / "control"
    control.write_text("first-half\nsecond-half\n")
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)  # nobody ever writes to it: reading it would block forever
    binary = tmp_path / "binary"
    binary.write_bytes(b"\xff\xfe\x00password")
    huge = tmp_path / "huge"
    huge.write_text("x" * 70_000)
    return {
        "TOKEN_FILE": str(token),
        "EMPTY_FILE": str(empty),
        "CONTROL_FILE": str(control),
        "FIFO_FILE": str(fifo),
        "BINARY_FILE": str(binary),
        "HUGE_FILE": str(huge),
        "RC_USER_ID": "u1",
    }


def expected_lines(path: Path) -> list[str]:
    return [
        f"{path}: {line.removeprefix('# expect: ')}"
        for line in path.read_text().splitlines()
        if line.startswith("# expect: ")
    ]


def test_there_is_a_broken_config_for_every_kind_of_mistake() -> None:
    assert len(BAD) >= 20
    assert all(expected_lines(p) for p in BAD)


@pytest.mark.parametrize("path", BAD, ids=[p.stem for p in BAD])
def test_broken_config_gives_exactly_its_expected_messages(path: Path, env: dict[str, str]) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(path, env=env)
    assert caught.value.problems == expected_lines(path)


@pytest.mark.parametrize("path", BAD, ids=[p.stem for p in BAD])
def test_check_config_and_normal_start_exit_2_with_the_messages_and_no_traceback(
    path: Path, env: dict[str, str]
) -> None:
    for extra in (["--check-config"], []):
        result = subprocess.run(
            [sys.executable, "-m", "exporter", "--config", str(path), *extra],
            capture_output=True,
            text=True,
            env={**os.environ, **env},
            timeout=60,
        )
        assert result.returncode == 2
        assert result.stderr.splitlines() == expected_lines(path)
        assert "Traceback" not in result.stderr
        assert result.stdout == ""


@pytest.mark.parametrize("path", SECRETS, ids=[p.stem for p in SECRETS])
def test_an_unusable_secret_file_is_reported_but_fails_only_its_workspace(
    path: Path, env: dict[str, str]
) -> None:
    config = load_config(path, env=env)  # no ConfigError: the exporter starts
    assert list(config.secret_problems) == expected_lines(path)
    assert [w.name for w in config.workspaces] == ["prod"]
    result = subprocess.run(
        [sys.executable, "-m", "exporter", "--config", str(path), "--check-config"],
        capture_output=True, text=True, env={**os.environ, **env}, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.splitlines() == expected_lines(path)
    assert "Traceback" not in result.stderr and result.stdout == ""


def test_secrets_from_env_and_files_never_appear_in_messages(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(
        "workspaces:\n"
        "  - name: a\n"
        "    url: ftp://x\n"
        "    auth: {user_id: u, token: '${SECRET}', token_file: '${SECRET}'}\n"
        "  - name: b\n"
        "    url: https://x\n"
        "    auth: {user_id: u, token_file: '/nonexistent/${SECRET}'}\n"
        "  - name: c\n"
        "    url: https://x\n"
        "    poll_interval: '${SECRET}'\n"
        "    auth: {username: bot, password: '${SECRET}', password_file: /x}\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_config(config, env={"SECRET": SECRET_TOKEN})
    text = "\n".join(caught.value.problems)
    assert len(caught.value.problems) >= 4
    assert SECRET_TOKEN not in text


def test_example_config_is_valid_and_covers_every_key(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("abc")
    env = {"RC_USER_ID": "u1", "RC_TOKEN": "t", "RC_PASSWORD": "p", "RC_TOKEN_FILE": str(token)}
    config = load_config(REPO / "config.example.yaml", env=env)
    assert config.workspaces
    text = (REPO / "config.example.yaml").read_text()
    from exporter.config.load import AUTH_KEYS, TLS_KEYS, TOP_KEYS, WORKSPACE_KEYS

    for key in TOP_KEYS | WORKSPACE_KEYS | AUTH_KEYS | TLS_KEYS:
        assert f"{key}:" in text, f"config.example.yaml does not mention {key}"


def test_valid_config_with_overrides_env_prefix_url_and_both_auth_forms(
    tmp_path: Path, env: dict[str, str]
) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(
        "listen: '127.0.0.1:9999'\n"
        "poll_interval: 1m30s\n"
        "statistics_interval: 10m\n"
        "timeout: 500ms\n"
        "max_concurrency: 8\n"
        "max_response_bytes: 1MiB\n"
        "workspaces:\n"
        "  - name: prod\n"
        "    url: https://example.com/chat/\n"
        "    auth: {user_id: '${RC_USER_ID}', token_file: '${TOKEN_FILE}'}\n"
        "    poll_interval: 15\n"
        "    statistics: false\n"
        "    tls: {insecure_skip_verify: true}\n"
        "  - name: lab.2\n"
        "    url: http://10.0.0.1:3000\n"
        "    auth: {username: bot, password: pw}\n"
    )
    loaded = load_config(config, env=env)
    assert (loaded.listen_host, loaded.listen_port) == ("127.0.0.1", 9999)
    assert (loaded.poll_interval, loaded.statistics_interval, loaded.timeout) == (90, 600, 0.5)
    assert (loaded.max_concurrency, loaded.max_response_bytes) == (8, 1024 * 1024)
    prod, lab = loaded.workspaces
    assert prod.url == "https://example.com/chat"
    assert prod.poll_interval == 15 and prod.statistics_interval == 600 and prod.timeout == 0.5
    assert prod.statistics is False and prod.tls.insecure_skip_verify is True
    assert isinstance(prod.auth, TokenAuth) and prod.auth.user_id == "u1"
    assert isinstance(lab.auth, PasswordAuth) and lab.auth.password == Secret("pw")
    assert lab.poll_interval == 90
    assert "pw" not in repr(loaded)


def test_defaults_match_the_contract(tmp_path: Path, env: dict[str, str]) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(
        "workspaces:\n"
        "  - {name: a, url: 'https://x', auth: {user_id: u, token_file: '${TOKEN_FILE}'}}\n"
    )
    loaded = load_config(config, env=env)
    assert (loaded.listen_host, loaded.listen_port) == ("0.0.0.0", 9877)
    assert (loaded.poll_interval, loaded.statistics_interval, loaded.timeout) == (30, 300, 10)
    assert (loaded.max_concurrency, loaded.max_response_bytes) == (64, 16 * 1024 * 1024)
    assert loaded.workspaces[0].statistics is True


def test_missing_config_file_is_one_line() -> None:
    with pytest.raises(ConfigError) as caught:
        load_config("/nonexistent/config.yaml")
    assert caught.value.problems == [
        "/nonexistent/config.yaml: cannot read config: No such file or directory"
    ]


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("500ms", 0.5), ("30s", 30), ("5m", 300), ("1h", 3600), ("1m30s", 90), (2, 2), (0.25, 0.25)],
)
def test_durations(text: object, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "30", "s", "-1s", "0s", "1d", "1.5.2s", True, None, "1s 2s"])
def test_bad_durations(text: object) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


def test_sizes_and_listen_addresses() -> None:
    assert parse_size("16MiB") == 16 * 1024 * 1024
    assert parse_size("1KB") == 1000 and parse_size(42) == 42
    with pytest.raises(ValueError):
        parse_size("0")
    assert parse_listen(":9877") == ("0.0.0.0", 9877)
    assert parse_listen("[::1]:9877") == ("::1", 9877)
    with pytest.raises(ValueError):
        parse_listen("localhost:99999")


def test_a_file_of_thousands_of_mistakes_reports_the_first_hundred_and_says_so(
    tmp_path: Path,
) -> None:
    lines = ["workspaces:"] + [f"  - {{name: w{i}, url: 'not a url {i}'}}" for i in range(5000)]
    path = tmp_path / "many.yaml"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ConfigError) as caught:
        load_config(str(path))
    problems = caught.value.problems
    assert len(problems) == MAX_PROBLEMS + 1
    assert problems[-1].endswith("more problems not shown; fix these first")


def test_deeply_nested_yaml_is_a_clear_error_not_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "deep.yaml"
    path.write_text("workspaces: " + "[" * 200_000 + "]" * 200_000 + "\n")
    with pytest.raises(ConfigError) as caught:
        load_config(str(path))
    assert any("nested too deeply" in p for p in caught.value.problems), caught.value.problems
