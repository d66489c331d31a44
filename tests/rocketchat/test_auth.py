"""Authentication: token files, login with re-login on 401, refused logins, and no leaked secret."""

from __future__ import annotations

import dataclasses
import logging
import time
from pathlib import Path
from typing import Any

import pytest

from exporter.demo.server import FakeRocketChat
from exporter.model.config import PasswordAuth, Secret, TokenAuth

from conftest import fast_config, fixture, poll_errors, value, wait_for, with_auth
from faults import endless, hang, reset_mid_body, respond, truncated


async def test_password_login_once_then_relogin_once_after_401(
    fake: FakeRocketChat, exporter_for: Any
) -> None:
    workspace = fake.workspaces["new"]
    auth = PasswordAuth(workspace.username, Secret(workspace.password))
    run = await exporter_for(with_auth(fast_config(fake), "new", auth))
    samples = await run.wait_until(
        lambda s: value(s, "rocketchat_up", workspace="new") == 1, "new up"
    )
    await wait_for(lambda: workspace.requests["instances.get"] >= 5, "several polls")
    assert workspace.requests["login"] == 1  # the token is reused
    assert value(
        samples,
        "rocketchat_exporter_last_success_timestamp_seconds",
        workspace="new",
        endpoint="login",
    )

    workspace.login_tokens.clear()  # the login token expired
    before = workspace.requests["instances.get"]
    await wait_for(lambda: workspace.requests["instances.get"] >= before + 5, "polls go on")
    assert workspace.requests["login"] == 2  # one re-login for both endpoints
    samples = await run.samples()
    assert value(samples, "rocketchat_up", workspace="new") == 1
    assert poll_errors(samples, "new", "login", "unauthorized") == 0


async def test_refused_login_is_counted_under_login_and_backs_off(
    fake: FakeRocketChat, exporter_for: Any
) -> None:
    workspace = fake.workspaces["new"]
    auth = PasswordAuth(workspace.username, Secret("wrong-password"))
    run = await exporter_for(with_auth(fast_config(fake), "new", auth))
    await run.wait_until(
        lambda s: poll_errors(s, "new", "login", "unauthorized") >= 1, "login error"
    )
    state = run.exporter.state.workspaces["new"]
    await wait_for(lambda: state.version >= 10, "several polls of new while the login is paused")
    assert workspace.requests["login"] == 1  # no retry at every poll: accounts get blocked
    samples = await run.samples()
    assert value(samples, "rocketchat_up", workspace="new") == 0
    assert poll_errors(samples, "new", "login", "unauthorized") == 1
    assert poll_errors(samples, "new", "instances.get", "unauthorized") == 0
    assert "login failed" in state.status["instances.get"].last_error


async def test_totp_required_tells_the_operator_to_use_a_token(
    fake: FakeRocketChat, exporter_for: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="exporter")
    workspace = fake.workspaces["old"]
    workspace.overrides["login"] = respond(401, fixture("login-totp-required.json"))
    auth = PasswordAuth(workspace.username, Secret(workspace.password))
    run = await exporter_for(with_auth(fast_config(fake), "old", auth))
    await run.wait_until(
        lambda s: poll_errors(s, "old", "login", "unauthorized") >= 1, "login error"
    )
    messages = " ".join(r.getMessage() for r in caplog.records)
    assert "two-factor" in messages and "personal access token" in messages


async def test_rotated_token_file_is_reread_after_a_401(
    fake: FakeRocketChat, exporter_for: Any, tmp_path: Path
) -> None:
    workspace = fake.workspaces["new"]
    token_file = tmp_path / "token"
    token_file.write_text(workspace.token + "\n")
    auth = TokenAuth(workspace.user_id, token_file=token_file)
    run = await exporter_for(with_auth(fast_config(fake), "new", auth))
    await run.wait_until(lambda s: value(s, "rocketchat_up", workspace="new") == 1, "new up")

    workspace.token = "rotated-token-value-0123456789"  # the old token is revoked
    samples = await run.wait_until(
        lambda s: poll_errors(s, "new", "instances.get", "unauthorized") >= 1, "401 counted"
    )
    assert value(samples, "rocketchat_up", workspace="new") == 0
    token_file.write_text(workspace.token + "\n")  # the operator rotates the secret file
    await run.wait_until(lambda s: value(s, "rocketchat_up", workspace="new") == 1, "recovered")


async def test_no_secret_in_any_log_line_metric_or_status_page(
    fake: FakeRocketChat, exporter_for: Any, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    """Debug logging through every kind of failure; then search all output for every secret."""
    caplog.set_level(logging.DEBUG)
    old, new, strings = (fake.workspaces[n] for n in ("old", "new", "strings"))
    token_file = tmp_path / "token"
    token_file.write_text(new.token)
    config = dataclasses.replace(fast_config(fake, timeout=0.3), max_response_bytes=512 * 1024)
    config = with_auth(config, "old", PasswordAuth(old.username, Secret(old.password)))
    config = with_auth(config, "new", TokenAuth(new.user_id, token_file=token_file))
    run = await exporter_for(config)
    await run.wait_until(
        lambda s: all(value(s, "rocketchat_up", workspace=n) == 1 for n in fake.workspaces),
        "all up",
    )
    secrets = [old.password, *old.login_tokens, new.token, strings.token]

    async def rate_limited_briefly(request: Any) -> Any:
        reset = str(int((time.time() + 0.3) * 1000))
        handler = respond(429, fixture("error-429.json"), headers={"X-RateLimit-Reset": reset})
        return await handler(request)

    scenarios = [
        ("instances.get", respond(401, fixture("error-401.json"))),
        ("instances.get", respond(500, "<html>oops</html>")),
        ("instances.get", truncated(b"{", 100)),
        ("instances.get", hang()),
        ("statistics.list", respond(400, fixture("error-400-statistics-not-allowed.json"))),
        ("statistics.list", rate_limited_briefly),
        ("login", respond(401, fixture("login-totp-required.json"))),
        ("instances.get", respond(403, fixture("error-403.json"))),
        ("instances.get", respond(200, "<html><form>Sign in</form></html>")),
        ("instances.get", reset_mid_body()),
        ("instances.get", endless()),
        ("statistics.list", respond(200, {"statistics": "x", "success": True})),
        ("statistics.list", respond(302, "", headers={"Location": "/login"})),
    ]
    states = run.exporter.state.workspaces
    for endpoint, handler in scenarios:
        for workspace in fake.workspaces.values():
            workspace.overrides[endpoint] = handler
        old.login_tokens.clear()  # forces a login attempt for "old"
        failing = ["old"] if endpoint == "login" else list(fake.workspaces)
        await wait_for(
            lambda: all(states[n].up is False for n in failing),  # noqa: B023
            f"{failing} failing through {endpoint}",
        )
        for workspace in fake.workspaces.values():
            workspace.overrides.pop(endpoint)
        old.login_tokens.clear()
        run.exporter.poller.clients["old"].login_not_before = 0
        await wait_for(lambda: all(s.up for s in states.values()), f"recovery after {endpoint}")
        secrets.extend(old.login_tokens)
    outputs = [
        "\n".join(r.getMessage() + str(r.args) + str(r.exc_info) for r in caplog.records),
        await run.metrics(),
        (await run.get("/"))[1],
        repr(config),
    ]
    assert len(caplog.records) > 10
    for secret in secrets:
        for output in outputs:
            assert secret not in output
