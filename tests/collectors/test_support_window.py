# ruff: noqa: E501 - tables of payloads read best one per line
"""The support window from /api/info (6.5+): tokens built the way the server ships them (a JWT
of three base64url parts without padding), read not verified; the date the apps stop
accepting the version, matched by the running major.minor; the minimum client versions."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from exporter.collectors.info import parse_info, token_payload

from conftest import fixture

DAY = 86400.0


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def jwt(payload: dict[str, Any]) -> str:
    header = b64(json.dumps({"alg": "RS256", "typ": "JWT"}).encode())
    return f"{header}.{b64(json.dumps(payload).encode())}.{b64(b'signature-not-checked')}"


def iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


NOW = 1_790_000_000.0  # a fixed instant: the window is a date, not a duration
PAST, AHEAD, LATER = NOW - 100 * DAY, NOW + 40 * DAY, NOW + 200 * DAY


def answer(payload: dict[str, Any] | str | None, version: str = "7.10.2", **extra: Any) -> Any:
    body: dict[str, Any] = {"version": version, "success": True, **extra}
    if payload is not None:
        body["supportedVersions"] = {
            "signed": payload if isinstance(payload, str) else jwt(payload)
        }
    return body


@pytest.mark.parametrize(
    ("payload", "end"),
    [
        # the matching version's expiration, the enforcement date long past
        ({"enforcementStartDate": iso(PAST), "versions": [{"version": "7.10.0", "expiration": iso(AHEAD)}]}, AHEAD),
        # another minor's entry does not count: only the enforcement date is left (past)
        ({"enforcementStartDate": iso(PAST), "versions": [{"version": "7.9.0", "expiration": iso(LATER)}]}, PAST),
        # an exception for this major.minor extends the window beyond its version's entry
        (
            {
                "enforcementStartDate": iso(PAST),
                "versions": [{"version": "7.10.0", "expiration": iso(AHEAD)}],
                "exceptions": {"domain": "chat.example.com", "versions": [{"version": "7.10.5", "expiration": iso(LATER)}]},
            },
            LATER,
        ),
        # the enforcement date ahead keeps every version supported until then
        ({"enforcementStartDate": iso(LATER), "versions": [{"version": "7.10.0", "expiration": iso(AHEAD)}]}, LATER),
        ({"enforcementStartDate": iso(LATER), "versions": []}, LATER),
        # nothing to go by: no series
        ({"versions": [{"version": "6.5.0", "expiration": iso(AHEAD)}]}, None),
        # entries of the wrong type are skipped, not fatal
        ({"enforcementStartDate": iso(PAST), "versions": [None, 3, {"version": 7.10}, {"version": "7.10.1", "expiration": "soon"}]}, PAST),
    ],
)  # fmt: skip
def test_support_end_is_the_latest_date_that_keeps_the_running_version_supported(
    payload: dict[str, Any], end: float | None
) -> None:
    info = parse_info(answer(payload))
    assert info.support_end == end
    assert info.problem == ""


def test_the_full_version_is_matched_when_visible_else_the_anonymous_x_y() -> None:
    payload = {"versions": [{"version": "8.8.0", "expiration": iso(AHEAD)}]}
    privileged = parse_info(answer(payload, "8.8.1", info={"version": "8.8.1"}))
    assert (privileged.version, privileged.major_minor, privileged.support_end) == (
        "8.8.1",
        (8, 8),
        AHEAD,
    )
    anonymous = parse_info(answer(payload, "8.8"))
    assert (anonymous.version, anonymous.major_minor, anonymous.support_end) == (
        None,
        (8, 8),
        AHEAD,
    )


def test_before_6_5_or_without_a_token_there_is_no_window() -> None:
    for body in (
        {"version": "6.4.9", "success": True},  # before 6.5: no supportedVersions
        {"info": {"version": "5.4.0"}, "success": True},
        answer(None),
        {"version": "7.1.0", "supportedVersions": {}, "success": True},
    ):
        info = parse_info(body)
        assert info.support_end is None and info.problem == ""


@pytest.mark.parametrize(
    "token",
    [
        "not-a-jwt",
        "a.b",
        "a.b.c.d",
        "eyJhbGciOiJSUzI1NiJ9.!!!!.c2ln",  # not base64url
        f"x.{b64(b'not json')}.y",
        f"x.{b64(b'[1, 2]')}.y",  # JSON, not an object
        f"x.{b64(b'[' * 100_000)}.y",  # nested too deeply
        12345,
        "x." + "A" * 300_000 + ".y",  # larger than any real token
    ],
)
def test_a_token_that_cannot_be_read_is_a_note_never_a_failed_poll(token: Any) -> None:
    body = {"version": "7.10", "success": True, "supportedVersions": {"signed": token}}
    info = parse_info(body)  # no ParseError: the poll succeeds
    assert info.support_end is None
    assert info.problem.startswith("supportedVersions cannot be read (")
    assert str(token)[:40] not in info.problem or len(str(token)) < 12


def test_the_shared_fixture_a_list_with_no_versions_gives_the_past_enforcement_date() -> None:
    body = fixture("info.json")
    payload = token_payload(body["supportedVersions"]["signed"])
    assert payload["versions"] == []
    info = parse_info(body)
    assert info.major_minor == (8, 8) and info.version is None
    assert info.support_end == datetime(2023, 12, 15, tzinfo=UTC).timestamp()  # ended
    assert info.minimum == ("3.9.6", "4.39.0")


def test_minimum_client_versions_only_when_both_are_plain_versions() -> None:
    plain = answer(None, minimumClientVersions={"desktop": "3.9.6", "mobile": "4.39.0"})
    assert parse_info(plain).minimum == ("3.9.6", "4.39.0")
    for hostile in ({"desktop": "3.9.6"}, {"desktop": '3"}', "mobile": "1"}, "x", None):
        assert parse_info(answer(None, minimumClientVersions=hostile)).minimum is None
