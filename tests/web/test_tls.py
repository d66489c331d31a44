"""HTTPS to Rocket.Chat: an untrusted certificate is a clear error; ca_file and skip-verify work."""

from __future__ import annotations

import dataclasses
import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from exporter.demo.server import FakeRocketChat
from exporter.model.config import Config, TLSConfig

from conftest import fast_config, three_workspaces, value


@pytest.fixture
async def https_fake(certificate: tuple[Path, Path]) -> AsyncIterator[FakeRocketChat]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)
    server = FakeRocketChat(three_workspaces())
    await server.start(ssl_context=context)
    yield server
    await server.stop()


def with_tls(config: Config, tls: TLSConfig) -> Config:
    return dataclasses.replace(
        config, workspaces=tuple(dataclasses.replace(w, tls=tls) for w in config.workspaces)
    )


async def test_untrusted_certificate_is_a_connection_error_that_names_the_fix(
    https_fake: FakeRocketChat, exporter_for: Any
) -> None:
    run = await exporter_for(fast_config(https_fake))
    samples = await run.wait_until(
        lambda s: value(
            s,
            "rocketchat_exporter_poll_errors_total",
            workspace="new",
            endpoint="instances.get",
            reason="connection",
        ),
        "a certificate error",
    )
    assert value(samples, "rocketchat_up", workspace="new") == 0
    status = run.exporter.state.workspaces["new"].status["instances.get"]
    assert "tls.ca_file" in status.last_error


@pytest.mark.parametrize("mode", ["ca_file", "insecure_skip_verify"])
async def test_trusted_ca_file_or_skip_verify_connects(
    https_fake: FakeRocketChat, exporter_for: Any, certificate: tuple[Path, Path], mode: str
) -> None:
    tls = (
        TLSConfig(ca_file=certificate[0])
        if mode == "ca_file"
        else TLSConfig(insecure_skip_verify=True)
    )
    run = await exporter_for(with_tls(fast_config(https_fake), tls))
    samples = await run.wait_until(
        lambda s: all(value(s, "rocketchat_up", workspace=n) == 1 for n in https_fake.workspaces),
        "all up over HTTPS",
    )
    assert value(samples, "rocketchat_instances", workspace="new") == 3


async def test_a_ca_file_gone_since_the_config_load_is_a_connection_error_naming_it(
    https_fake: FakeRocketChat, exporter_for: Any, tmp_path: Path
) -> None:
    tls = TLSConfig(ca_file=tmp_path / "removed.pem")  # passed the checks, then was deleted
    run = await exporter_for(with_tls(fast_config(https_fake), tls))
    await run.wait_until(
        lambda s: value(
            s,
            "rocketchat_exporter_poll_errors_total",
            workspace="new",
            endpoint="instances.get",
            reason="connection",
        ),
        "a connection error",
    )
    status = run.exporter.state.workspaces["new"].status["instances.get"]
    assert "tls.ca_file" in status.last_error and "internal" not in status.last_error


def test_workspaces_sharing_a_ca_file_share_one_tls_context(
    certificate: tuple[Path, Path], tmp_path: Path
) -> None:
    """A fleet with one corporate CA must not parse it once per workspace (memory and start-up
    time at 10 000 workspaces); a CA file changed since (a reload) gives a new context."""
    from exporter.model.config import TokenAuth, WorkspaceConfig
    from exporter.rocketchat.transport import tls_setting

    ca = tmp_path / "ca.pem"
    ca.write_bytes(certificate[0].read_bytes())
    workspaces = [
        WorkspaceConfig(
            name=f"w{i}", url="https://x", auth=TokenAuth(user_id="u"), tls=TLSConfig(ca_file=ca)
        )
        for i in range(3)
    ]
    contexts = [tls_setting(w) for w in workspaces]
    assert isinstance(contexts[0], ssl.SSLContext)
    assert contexts[1] is contexts[0] and contexts[2] is contexts[0]
    ca.write_bytes(certificate[0].read_bytes() + b"\n")  # renewed: another size
    renewed = tls_setting(workspaces[0])
    assert isinstance(renewed, ssl.SSLContext) and renewed is not contexts[0]
    assert renewed.cert_store_stats()["x509_ca"] == 1
