"""Never lie: what real deployments, hostile servers and broken secrets must not make us say.

Community Edition answers report no cluster links; compressed bombs, odd numbers, odd headers and
odd strings are bounded and isolated; bad token files and login answers fail clearly and recover.
"""

from __future__ import annotations

import copy
import dataclasses
import gzip
import html.parser
import json
import logging
import time
import zlib
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

import exporter.collectors.instances
from exporter import cli
from exporter.collectors.instances import parse_instances
from exporter.demo.fleet import FakeInstance, FakeWorkspace, Handler, make_statistics
from exporter.demo.server import FakeRocketChat
from exporter.model.config import PasswordAuth, Secret, TokenAuth
from exporter.rocketchat.errors import PollError
from exporter.rocketchat.inflate import Inflater
from exporter.rocketchat.values import ParseError

from conftest import (
    fast_config,
    fixture,
    parse_exposition,
    poll_errors,
    promtool_check_metrics,
    series,
    value,
    wait_for,
    with_auth,
)
from faults import gzip_bomb, respond

# -- 1. links not reported (Community Edition, microservices) -----------------------------------


def test_community_edition_answer_reports_no_links_and_no_connected_state() -> None:
    answer = parse_instances(fixture("instances-7x-ce.json"))
    assert len(answer) == 2
    assert answer.links_reported is False
    assert [i.connected for i in answer] == [None, None]


@pytest.mark.parametrize(
    "name", ["instances-7x.json", "instances-4x.json", "instances-3.10-pr-draft.json"]
)
def test_answers_with_a_local_item_or_shape_a_report_links(name: str) -> None:
    answer = parse_instances(fixture(name))
    assert answer.links_reported is True
    assert all(i.connected is not None for i in answer)


def test_empty_list_reports_no_links() -> None:
    answer = parse_instances({"instances": [], "success": True})
    assert len(answer) == 0 and answer.links_reported is False


@pytest.fixture
async def ce_fake() -> Any:
    """A Community Edition cluster ("ce") beside an Enterprise one with a disconnected peer."""
    server = FakeRocketChat(
        [
            FakeWorkspace(
                name="ce",
                shape="B-ce",
                instances=[
                    FakeInstance("ce-1", "10.9.0.1", local=True, conns=50),
                    FakeInstance("ce-2", "10.9.0.2", conns=40),
                ],
                statistics=[make_statistics("7.11.0", time.time() - 600, 90)],
            ),
            FakeWorkspace(
                name="ee",
                shape="B",
                instances=[
                    FakeInstance("ee-1", "10.8.0.1", local=True),
                    FakeInstance("ee-2", "10.8.0.2", connected=False),
                ],
                statistics=[make_statistics("8.8.1", time.time() - 600, 90)],
            ),
        ]
    )
    await server.start()
    yield server
    await server.stop()


async def test_community_edition_instances_are_not_shown_as_disconnected(
    ce_fake: FakeRocketChat, exporter_for: Any
) -> None:
    run = await exporter_for(fast_config(ce_fake))
    samples = await run.wait_until(
        lambda s: (
            value(s, "rocketchat_up", workspace="ce") == 1
            and value(s, "rocketchat_up", workspace="ee") == 1
        ),
        "both workspaces up",
    )
    assert len(series(samples, "rocketchat_instance_info", workspace="ce")) == 2
    assert series(samples, "rocketchat_instance_connected", workspace="ce") == []
    assert value(samples, "rocketchat_workspace_links_reported", workspace="ce") == 0
    assert value(samples, "rocketchat_instance_connections", workspace="ce", instance_id="ce-2",
                 host="10.9.0.2", port="3000") == 40  # fmt: skip
    # the Enterprise cluster still reports its disconnected peer
    assert value(samples, "rocketchat_workspace_links_reported", workspace="ee") == 1
    labels = {"workspace": "ee", "instance_id": "ee-2", "host": "10.8.0.2", "port": "3000"}
    assert value(samples, "rocketchat_instance_connected", **labels) == 0
    _, page, _ = await run.get("/")
    ce_row = next(row for row in page.split("<tr") if ">ce<" in row)
    assert "links not reported by this server" in ce_row
    assert "disconnected" not in ce_row
    assert "1/2 connected" in page
    assert "<bdi>instance disconnected: 10.8.0.2:3000</bdi>" in page
    _, ce_page, _ = await run.get("/workspace/ce")
    assert ce_page.count("not reported") >= 2 and "DISCONNECTED" not in ce_page


async def test_an_empty_instances_list_exports_zero_instances(
    fake: FakeRocketChat, exporter_for: Any
) -> None:
    fake.workspaces["new"].overrides["instances.get"] = respond(
        200, {"instances": [], "success": True}
    )
    run = await exporter_for(fast_config(fake))
    samples = await run.wait_until(
        lambda s: value(s, "rocketchat_up", workspace="new") == 1, "new up"
    )
    assert value(samples, "rocketchat_instances", workspace="new") == 0
    assert value(samples, "rocketchat_workspace_links_reported", workspace="new") == 0


# -- 2. decompression bombs -----------------------------------------------------------------------

LIMIT = 1024 * 1024


@pytest.mark.parametrize("declare_length", [True, False], ids=["content-length", "chunked"])
async def test_a_gzip_bomb_is_too_large_and_nothing_else_is_affected(
    fake: FakeRocketChat, exporter_for: Any, declare_length: bool
) -> None:
    # 64 MiB of JSON whitespace in about 64 KiB of gzip: far under the cap as received
    fake.workspaces["new"].overrides["instances.get"] = gzip_bomb(
        64 * LIMIT, declare_length=declare_length
    )
    run = await exporter_for(dataclasses.replace(fast_config(fake), max_response_bytes=LIMIT))
    samples = await run.wait_until(
        lambda s: poll_errors(s, "new", "instances.get", "too_large") >= 1, "bomb refused"
    )
    assert value(samples, "rocketchat_up", workspace="new") == 0
    assert value(samples, "rocketchat_up", workspace="old") == 1
    assert not series(samples, "rocketchat_instance_info", workspace="new")


def gzipped(body: Any, encoding: str = "gzip") -> Handler:
    raw = json.dumps(body).encode()
    data = gzip.compress(raw) if encoding == "gzip" else zlib.compress(raw)

    async def handler(request: web.Request) -> web.StreamResponse:
        headers = {"Content-Type": "application/json", "Content-Encoding": encoding}
        return web.Response(body=data, headers=headers)

    return handler


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
async def test_a_compressed_answer_within_the_cap_is_read(
    fake: FakeRocketChat, exporter_for: Any, encoding: str
) -> None:
    fake.workspaces["new"].overrides["instances.get"] = gzipped(
        fixture("instances-7x.json"), encoding
    )
    run = await exporter_for(fast_config(fake))
    samples = await run.wait_until(
        lambda s: value(s, "rocketchat_up", workspace="new") == 1, "new up"
    )
    assert value(samples, "rocketchat_instances", workspace="new") == 3


def test_the_inflater_never_holds_more_than_the_cap() -> None:
    """256 MiB of zeros compressed to ~256 KiB, fed like a network stream: the output kept
    never exceeds the cap (plus one byte), and the verdict is too_large."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    bomb = b"".join(compressor.compress(bytes(1 << 20)) for _ in range(256)) + compressor.flush()
    assert len(bomb) < 1024 * 1024
    inflater = Inflater("gzip", "/api/v1/instances.get", LIMIT)
    kept = 0
    with pytest.raises(PollError) as caught:
        for start in range(0, len(bomb), 65536):
            kept += len(inflater.feed(bomb[start : start + 65536]))
            assert kept <= LIMIT
    assert caught.value.reason == "too_large"
    assert inflater.size <= LIMIT + 1


def test_an_unknown_content_encoding_is_an_invalid_response() -> None:
    with pytest.raises(PollError) as caught:
        Inflater("br", "/api/v1/instances.get", LIMIT)
    assert caught.value.reason == "invalid_response"


# -- 3. cardinality guard on every shape ------------------------------------------------------


def test_the_pr_draft_shape_is_capped_like_the_others() -> None:
    draft = fixture("instances-3.10-pr-draft.json")
    peer = draft["instances"]["connections"][0]
    many = []
    for index in range(1001):
        item = copy.deepcopy(peer)
        item["instanceRecord"]["_id"] = f"id-{index}"
        many.append(item)
    draft["instances"]["connections"] = many
    with pytest.raises(ParseError, match="more than 1000"):
        parse_instances(draft)
    draft["instances"]["connections"] = many[:999]
    assert len(parse_instances(draft)) == 1000


# -- 4. values and headers that used to raise ---------------------------------------------------


@pytest.mark.parametrize(
    ("date", "expected"),
    [
        ({"$date": 10**400}, None),
        ({"$date": -(10**400)}, None),
        ({"$date": 1.5e308}, 1.5e308 / 1000),
        ("9999-12-31T23:59:59-23:59", 253402387139.0),
        ("0001-01-01", -62135596800.0),
        ("2025-13-45T00:00:00Z", None),
    ],
)
def test_out_of_range_dates_are_absent_or_exact_never_errors(date: Any, expected: Any) -> None:
    body = fixture("instances-7x.json")
    body["instances"][0]["instanceRecord"]["_createdAt"] = date
    assert parse_instances(body).items[0].start_time_seconds == expected


async def test_huge_date_and_negative_rate_limit_headers_keep_the_workspace_up(
    fake: FakeRocketChat, exporter_for: Any, caplog: pytest.LogCaptureFixture
) -> None:
    body = fixture("instances-7x.json")
    body["instances"][0]["instanceRecord"]["_createdAt"] = {"$date": 10**400}
    reset = str(int((time.time() + 30) * 1000))
    headers = {"X-RateLimit-Remaining": "-1", "X-RateLimit-Reset": reset, "X-RateLimit-Limit": "x"}
    workspace = fake.workspaces["new"]
    workspace.overrides["instances.get"] = respond(200, body, headers=headers)
    caplog.set_level(logging.WARNING, logger="exporter")
    run = await exporter_for(fast_config(fake))
    samples = await run.wait_until(
        lambda s: value(s, "rocketchat_up", workspace="new") == 1, "new up"
    )
    assert value(samples, "rocketchat_instances", workspace="new") == 3
    starts = series(samples, "rocketchat_instance_start_time_seconds", workspace="new")
    assert len(starts) == 2  # the one with the absurd date has no start time, the others do
    await wait_for(lambda: workspace.requests["instances.get"] >= 4, "polling goes on")
    assert value(await run.samples(), "rocketchat_up", workspace="new") == 1
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


async def test_once_reports_every_workspace_when_one_fails_internally(
    fake: FakeRocketChat, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    original = parse_instances

    def buggy_for_new(body: Any) -> Any:
        if "uuid-new-1" in json.dumps(body):
            raise RuntimeError("a bug nobody found yet")
        return original(body)

    monkeypatch.setattr(exporter.collectors.instances, "parse_instances", buggy_for_new)
    code = await cli._once(fast_config(fake))
    samples = parse_exposition(capsys.readouterr().out)
    assert code == 1
    assert value(samples, "rocketchat_up", workspace="new") == 0
    assert value(samples, "rocketchat_up", workspace="old") == 1
    assert value(samples, "rocketchat_up", workspace="strings") == 1
    assert poll_errors(samples, "new", "instances.get", "invalid_response") == 1


# -- 6. strings: lone surrogates, bidi overrides ------------------------------------------------

RLO = "\u202e"


class _BidiCheck(html.parser.HTMLParser):
    """Collects text outside any <bdi> element."""

    def __init__(self) -> None:
        super().__init__()
        self.depth = 0
        self.outside: list[str] = []

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        self.depth += tag == "bdi"

    def handle_endtag(self, tag: str) -> None:
        self.depth -= tag == "bdi"

    def handle_data(self, data: str) -> None:
        if self.depth == 0:
            self.outside.append(data)


async def test_hostile_strings_keep_series_unique_and_the_status_page_whole(
    exporter_for: Any, tmp_path: Path
) -> None:
    server = FakeRocketChat(
        [
            FakeWorkspace(
                name="odd",
                instances=[
                    FakeInstance("7\udfff", "10.0.0.1", local=True),
                    FakeInstance("7\udffe", f"{RLO}DOWN 7.0.0", connected=False),
                    FakeInstance("7\ud800x", '"q\\uo\nte', connected=False),
                ],
                statistics=[make_statistics(f"{RLO}0.0.7 pu\udfff", time.time() - 60)],
            )
        ]
    )
    await server.start()
    try:
        run = await exporter_for(fast_config(server))
        samples = await run.wait_until(
            lambda s: value(s, "rocketchat_up", workspace="odd") == 1, "odd up"
        )  # parse_exposition already refuses duplicate series
        ids = {labels["instance_id"] for labels in series(samples, "rocketchat_instance_info")}
        assert ids == {"7\\udfff", "7\\udffe", "7\\ud800x"}
        promtool_check_metrics(await run.metrics())
        status, page, _ = await run.get("/")
        assert status == 200
        checker = _BidiCheck()
        checker.feed(page)
        assert RLO in page
        assert not any(RLO in text for text in checker.outside)
        assert "&#34;q\\uo\nte" in page  # escaped (markupsafe writes &#34;)
    finally:
        await server.stop()


# -- 7. token files and login answers ----------------------------------------------------------


async def test_a_broken_token_file_fails_clearly_and_recovers_once_fixed(
    fake: FakeRocketChat, exporter_for: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    workspace = fake.workspaces["new"]
    token_file = tmp_path / "token"
    token_file.write_bytes(b"\xef\xbb\xbf" + workspace.token.encode() + b"\r\n")  # BOM, CRLF
    config = with_auth(fast_config(fake), "new", TokenAuth(workspace.user_id, None, token_file))
    caplog.set_level(logging.DEBUG, logger="exporter")
    run = await exporter_for(config)
    await run.wait_until(lambda s: value(s, "rocketchat_up", workspace="new") == 1, "BOM stripped")

    workspace.token = "rotated-token-0123456789abcdef"
    token_file.write_bytes(b"rotated-token\x00-0123456789abcdef\n")  # a NUL slipped in
    samples = await run.wait_until(
        lambda s: poll_errors(s, "new", "instances.get", "unauthorized") >= 1, "refused"
    )
    assert value(samples, "rocketchat_up", workspace="new") == 0
    messages = [r.getMessage() for r in caplog.records]
    assert any(f"token_file {token_file} must be printable ASCII" in m for m in messages), messages
    assert not [r for r in caplog.records if r.exc_info]

    token_file.write_text(workspace.token + "\n")
    await run.wait_until(lambda s: value(s, "rocketchat_up", workspace="new") == 1, "fixed")
    assert not [r for r in caplog.records if r.exc_info]
    assert all(workspace.token not in r.getMessage() for r in caplog.records)


async def test_a_login_answer_with_a_control_character_is_refused_then_login_retried(
    fake: FakeRocketChat, exporter_for: Any, caplog: pytest.LogCaptureFixture
) -> None:
    workspace = fake.workspaces["new"]
    bad = {"status": "success", "data": {"userId": workspace.user_id, "authToken": "tok\nX: 1"}}
    workspace.overrides["login"] = respond(200, bad)
    auth = PasswordAuth(workspace.username, Secret(workspace.password))
    config = with_auth(fast_config(fake), "new", auth)
    caplog.set_level(logging.WARNING, logger="exporter")
    run = await exporter_for(config)
    samples = await run.wait_until(
        lambda s: poll_errors(s, "new", "login", "invalid_response") >= 1, "login refused"
    )
    assert value(samples, "rocketchat_up", workspace="new") == 0
    assert not [r for r in caplog.records if r.exc_info]
    del workspace.overrides["login"]  # the server is fixed: the next login (after backoff) works
    await run.wait_until(
        lambda s: value(s, "rocketchat_up", workspace="new") == 1, "logged in", deadline=30
    )
