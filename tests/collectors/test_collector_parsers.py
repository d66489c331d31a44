"""The optional collectors' pure parsers against every fixture of ../shared/fixtures (copied to
tests/fixtures), the edge values the API notes describe, and arbitrary JSON."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exporter.collectors.health import Health, parse_health_text, parse_livez
from exporter.collectors.info import parse_info
from exporter.collectors.licenses import Limit, parse_licenses_info, parse_max_active_users
from exporter.collectors.omnichannel import parse_agents_status, parse_chats
from exporter.rocketchat.values import ParseError

from conftest import FIXTURES, fixture


@pytest.mark.parametrize(
    ("name", "version"),
    [
        ("info.json", None),  # anonymous on 6.5+: "8.8" is not the running version
        ("info-trimmed.json", None),
        ("info-authenticated.json", "8.8.1"),
        ("info-view-statistics.json", "7.10.4"),
    ],
)
def test_info_gives_the_full_running_version_or_none(name: str, version: str | None) -> None:
    assert parse_info(fixture(name)).version == version


def test_info_edge_answers() -> None:
    assert parse_info({"version": "3.10.5", "success": True}).version == "3.10.5"  # before 4.0
    admin = parse_info({"info": {"version": "3.18.2"}, "success": True})  # admin before 4.0
    assert admin.version == "3.18.2"
    assert parse_info({"version": "<b>9.9.9</b>", "success": True}).version is None
    with pytest.raises(ParseError):
        parse_info({"success": False, "error": "nope"})


def test_seats_used_and_max_with_every_spelling_of_unlimited() -> None:
    seats = parse_max_active_users(fixture("licenses-maxActiveUsers.json"))
    assert (seats.used, seats.max) == (463, 500)
    unlimited = parse_max_active_users(fixture("licenses-maxActiveUsers-unlimited.json"))
    assert (unlimited.used, unlimited.max) == (37, None)
    for spelling in (0, -1, None, "-1"):
        body = {"maxActiveUsers": spelling, "activeUsers": 5, "success": True}
        assert parse_max_active_users(body).max is None
    with pytest.raises(ParseError):
        parse_max_active_users({"success": True})


def test_enterprise_trial_license() -> None:
    found = parse_licenses_info(fixture("licenses-info-enterprise-trial.json"))
    assert found.trial is True
    assert found.modules == ("auditing", "scalability")
    assert Limit("guestUsers", 235, 12) in found.limits
    assert Limit("activeUsers", None, 212) in found.limits  # -1: unlimited, value still there
    assert found.expiry == 1711238400  # 2024-03-24T00:00:00Z, the invalidate_license period
    assert ("activeUsers", False) in found.prevented


def test_community_license_with_and_without_view_privileged_setting() -> None:
    admin = parse_licenses_info(fixture("licenses-info-community-admin.json"))
    assert Limit("privateApps", 3, 3) in admin.limits
    assert ("privateApps", True) in admin.prevented  # at the Community cap of 3 private apps
    assert admin.modules == () and admin.trial is False and admin.expiry is None
    plain = parse_licenses_info(fixture("licenses-info-community.json"))
    assert plain.limits == () and len(plain.prevented) == 6


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("livez-ok.json", Health(True, 0.4321, 0.0125, True)),
        ("livez-bare.json", Health(True)),
        ("livez-strings.json", Health(True, 0.4567, 0.01234, None)),
        ("livez-unavailable.json", Health(False, 0.4321, 0.18002, True)),
        ("livez-mongo-degraded.json", Health(False, 0.51, 0.0031, False)),
    ],
)
def test_livez_variants(name: str, expected: Health) -> None:
    found = parse_livez(fixture(name))
    assert found.healthy == expected.healthy
    assert found.database_healthy == expected.database_healthy
    for got, want in (
        (found.heap_ratio, expected.heap_ratio),
        (found.event_loop_lag_seconds, expected.event_loop_lag_seconds),
    ):
        assert got == pytest.approx(want) if want is not None else got is None


def test_health_text_before_7_11() -> None:
    ok = (FIXTURES / "health-5.3-ok.txt").read_text()
    sick = (FIXTURES / "health-5.3-not-healthy.txt").read_text()
    assert parse_health_text(200, ok).healthy is True
    assert parse_health_text(500, sick).healthy is False
    with pytest.raises(ParseError):  # before 5.3 Meteor answers the web client's HTML
        parse_health_text(200, "<!DOCTYPE html><html>...</html>")


def test_omnichannel_agents_and_chats() -> None:
    assert dict(parse_agents_status(fixture("omnichannel-agents-status.json"))) == {
        "available": 3,
        "away": 5,
        "busy": 0,
        "offline": 78,
    }
    no_agents = parse_agents_status(fixture("omnichannel-agents-status-no-agents.json"))
    assert dict(no_agents) == {"available": 0, "away": 0, "busy": 0, "offline": 0}
    assert dict(parse_chats(fixture("omnichannel-chats.json"))) == {
        "open": 2,
        "queued": 4,
        "onhold": 1,
    }
    assert dict(parse_chats(fixture("omnichannel-chats-old.json"))) == {"open": 2, "queued": 4}


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=30,
)
PARSERS = (
    parse_info,
    parse_max_active_users,
    parse_licenses_info,
    parse_livez,
    parse_agents_status,
    parse_chats,
)


KEYS = ["license", "info", "checks", "limits", "status", "activeUsers", "maxActiveUsers", "open"]


@settings(max_examples=300, deadline=None)
@given(body=json_values, nested=st.dictionaries(st.sampled_from(KEYS), json_values, max_size=4))
def test_collector_parsers_raise_only_parse_error(body: Any, nested: dict[str, Any]) -> None:
    for parser in PARSERS:
        for candidate in (body, nested, {"license": nested}, {"status": "ok", "checks": nested}):
            with contextlib.suppress(ParseError):
                parser(candidate)
