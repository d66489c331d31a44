"""HTTPS to Rocket.Chat: an untrusted certificate is a clear error; ca_file and skip-verify work."""

from __future__ import annotations

import dataclasses
import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from exporter.config import Config, TLSConfig
from exporter.demo import FakeRocketChat

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
