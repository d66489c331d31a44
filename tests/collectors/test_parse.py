"""The pure parsers against every fixture of ../shared/fixtures (copied to tests/fixtures)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import UTC, datetime

import pytest

from exporter.collectors.instances import Instance, parse_instances
from exporter.collectors.statistics import parse_statistics_list
from exporter.rocketchat.values import ParseError, error_code, number, parse_login, timestamp

from conftest import FIXTURES, fixture


def ts(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def by_id(instances: Iterable[Instance]) -> dict[str, Instance]:
    return {i.instance_id: i for i in instances}


def test_shape_a_310_answering_instance_is_connected_and_peer_uses_its_connection() -> None:
    instances = by_id(parse_instances(fixture("instances-3.10.json")))
    assert list(instances) == ["ycQLn2XLy5PfPh9Zr", "SyQhQEswye4oM5XQd"]
    local, peer = instances["ycQLn2XLy5PfPh9Zr"], instances["SyQhQEswye4oM5XQd"]
    assert local.connected is True
    assert local.address == ""
    assert (local.host, local.port) == ("10.0.1.11", "3000")
    assert local.cpus == 2
    assert local.memory_total_bytes == 8232075264
    assert local.memory_free_bytes == 2931335168
    assert (local.load1, local.load5, local.load15) == (0.52, 0.61, 0.58)
    assert local.host_uptime_seconds == 1728844.55
    assert local.connections is None  # conns arrived with 6.0
    assert local.start_time_seconds == ts("2021-01-12T08:14:03.118")
    assert local.last_heartbeat_seconds == ts("2021-01-14T10:31:52.406")
    assert (local.node_version, local.pid, local.name) == ("v12.18.4", "1", "rocket.chat")
    assert (local.os_type, local.os_platform, local.os_arch) == ("Linux", "linux", "x64")
    assert local.os_release == "5.4.0-1034-aws"
    assert peer.connected is True
    assert peer.address == "10.0.1.12:3000/"


def test_shape_a_4x_waiting_peer_is_disconnected() -> None:
    instances = by_id(parse_instances(fixture("instances-4x.json")))
    assert len(instances) == 3
    waiting = instances["sT8f8tuXLZqM3Y66w"]
    assert waiting.connected is False
    assert waiting.address == "10.20.0.33:3000/"
    assert waiting.memory_free_bytes == 9817022464
    assert instances["c2WixwPQsAYwmhGfp"].connected is True
    assert instances["tYduaPTnSCv5Xige4"].connected is True


@pytest.mark.parametrize("name", ["instances-7x.json", "instances-7x-strings.json"])
def test_shape_b_numbers_or_strings_give_the_same_values(name: str) -> None:
    instances = by_id(parse_instances(fixture(name)))
    local = instances["5fccdc52-8d8e-4e80-a752-21e891e79a80"]
    peer = instances["d1850fa6-55f5-4936-bdb4-ebbe336011df"]
    crashed = instances["7360b9da-1d12-47f7-ac65-d1c689ddba6b"]
    assert (local.connected, peer.connected, crashed.connected) == (True, True, False)
    assert (local.address, peer.address, crashed.address) == ("10.40.2.11", "10.40.2.12", "")
    assert local.cpus == 4
    assert local.memory_total_bytes == 16612405248
    assert local.memory_free_bytes == 5139263488
    assert (local.load1, local.load5, local.load15) == (0.87, 0.74, 0.69)
    assert local.host_uptime_seconds == 1815204.37
    assert local.connections == 412
    assert peer.connections == 398
    assert crashed.connections == 371
    assert local.pid == "1"
    assert (crashed.host, crashed.port) == ("10.40.2.13", "3000")
    assert crashed.last_heartbeat_seconds == ts("2025-06-18T09:40:41.330")
    assert local.start_time_seconds == ts("2025-06-11T07:58:14.902")


def test_pr_draft_shape_is_tolerated() -> None:
    instances = by_id(parse_instances(fixture("instances-3.10-pr-draft.json")))
    assert instances["ycQLn2XLy5PfPh9Zr"].connected is True
    peer = instances["SyQhQEswye4oM5XQd"]
    assert peer.connected is True
    assert peer.address == "10.0.1.12:3000/"
    assert peer.cpus is None  # the record carries no os: absent, never 0


def test_ddp_streamer_record_without_os_host_port_has_empty_labels_and_absent_values() -> None:
    body = {
        "instances": [
            {
                "currentStatus": {"connected": False},
                "instanceRecord": {
                    "_id": "streamer-1",
                    "_createdAt": "2025-06-11T07:58:14.902Z",
                    "name": "ddp-streamer",
                    "extraInformation": {"conns": 17},
                },
            }
        ]
    }
    (streamer,) = parse_instances(body)
    assert (streamer.host, streamer.port, streamer.name) == ("", "", "ddp-streamer")
    assert streamer.connections == 17
    assert streamer.cpus is None and streamer.load1 is None and streamer.pid == ""
    assert streamer.last_heartbeat_seconds is None


def test_restart_duplicates_of_host_port_stay_distinct_by_instance_id() -> None:
    def element(record_id: str, connected: bool) -> dict[str, object]:
        return {
            "currentStatus": {"connected": connected},
            "instanceRecord": {
                "_id": record_id,
                "extraInformation": {"host": "10.0.0.5", "port": "3000"},
            },
        }

    answering = element("answering-id", True)
    answering["currentStatus"] = {"connected": True, "local": True}
    body = {"instances": [answering, element("old-id", False), element("new-id", True)]}
    parsed = by_id(parse_instances(body))
    assert parsed["old-id"].connected is False
    assert parsed["new-id"].connected is True


def test_an_answer_with_absurdly_many_instances_is_refused() -> None:
    record = {"extraInformation": {"host": "h", "port": "1"}}
    many = [{**record, "_id": f"id-{i}"} for i in range(1001)]
    with pytest.raises(ParseError, match="more than 1000"):
        parse_instances({"instances": many})
    assert len(parse_instances({"instances": many[:1000]})) == 1000


def test_repeated_id_in_one_answer_is_kept_once() -> None:
    record = {"_id": "same", "extraInformation": {"host": "h", "port": "1"}}
    assert len(parse_instances({"instances": [record, dict(record)]})) == 1


@pytest.mark.parametrize(
    "body",
    [
        None,
        [],
        {"success": True},
        {"instances": "a string"},
        {"instances": [1, 2]},
        {"instances": [{"currentStatus": {}, "instanceRecord": "x"}]},
        {"instances": [{"extraInformation": {}}]},  # shape A without _id
    ],
)
def test_wrong_instances_shapes_raise_parse_error(body: object) -> None:
    with pytest.raises(ParseError):
        parse_instances(body)


def test_wrong_field_types_make_the_field_absent_not_zero() -> None:
    record = {
        "_id": "x",
        "_createdAt": {"nested": True},
        "pid": None,
        "extraInformation": {
            "host": 5,
            "port": ["3000"],
            "conns": "many",
            "os": {"cpus": True, "totalmem": {"a": 1}, "loadavg": "high", "uptime": "NaN"},
        },
    }
    (instance,) = parse_instances({"instances": [record]})
    assert instance.host == "5" and instance.port == "" and instance.pid == ""
    assert instance.cpus is None and instance.memory_total_bytes is None
    assert instance.load1 is None and instance.host_uptime_seconds is None
    assert instance.connections is None and instance.start_time_seconds is None


def test_statistics_list_fixture_gives_every_contract_value() -> None:
    stats = parse_statistics_list(fixture("statistics-list.json"))
    assert stats is not None
    assert stats.version == "8.8.1"
    assert stats.created_at == ts("2025-06-18T09:12:00.913")
    assert (
        stats.value("rocketchat_workspace_users"),
        stats.value("rocketchat_workspace_active_users"),
    ) == (1843, 1502)
    assert (
        stats.value("rocketchat_workspace_users_by_status", "online"),
        stats.value("rocketchat_workspace_users_by_status", "away"),
        stats.value("rocketchat_workspace_users_by_status", "busy"),
        stats.value("rocketchat_workspace_users_by_status", "offline"),
    ) == (
        288,
        96,
        21,
        1438,
    )
    assert stats.value("rocketchat_workspace_rooms") == 6921
    assert (
        stats.value("rocketchat_workspace_rooms_by_type", "channel"),
        stats.value("rocketchat_workspace_rooms_by_type", "private_group"),
        stats.value("rocketchat_workspace_rooms_by_type", "direct"),
        stats.value("rocketchat_workspace_rooms_by_type", "livechat"),
        stats.value("rocketchat_workspace_rooms_by_type", "discussion"),
    ) == (612, 1484, 4689, 136, 214)
    assert stats.value("rocketchat_workspace_messages") == 7558835
    assert (
        stats.value("rocketchat_workspace_messages_by_room_type", "channel"),
        stats.value("rocketchat_workspace_messages_by_room_type", "private_group"),
        stats.value("rocketchat_workspace_messages_by_room_type", "direct"),
        stats.value("rocketchat_workspace_messages_by_room_type", "livechat"),
        stats.value("rocketchat_workspace_messages_by_room_type", "discussion"),
    ) == (1204331, 2381094, 3942117, 12871, 18422)
    assert (
        stats.value("rocketchat_workspace_uploads"),
        stats.value("rocketchat_workspace_uploads_size_bytes"),
    ) == (48213, 61204875123)
    assert (
        stats.value("rocketchat_workspace_livechat_visitors"),
        stats.value("rocketchat_workspace_livechat_agents"),
    ) == (2310, 12)


def test_docs_example_reads_the_old_totlal_livechat_typo_and_leaves_missing_fields_absent() -> None:
    stats = parse_statistics_list(fixture("statistics-list-docs-example.json"))
    assert stats is not None
    assert stats.version == "0.61.0-develop"
    assert stats.value("rocketchat_workspace_rooms_by_type", "livechat") == 0
    assert (
        stats.value("rocketchat_workspace_users_by_status", "busy") is None
    )  # busyUsers did not exist yet
    assert stats.value("rocketchat_workspace_uploads") is None
    assert stats.value("rocketchat_workspace_rooms_by_type", "discussion") is None
    assert stats.value("rocketchat_workspace_users_by_status", "offline") == 87


def test_newest_statistics_record_wins_whatever_the_order() -> None:
    records = [
        {"createdAt": "2025-06-16T09:12:00.000Z", "totalUsers": 1},
        {"createdAt": "2025-06-18T09:12:00.000Z", "totalUsers": 3},
        {"createdAt": "2025-06-17T09:12:00.000Z", "totalUsers": 2},
    ]
    stats = parse_statistics_list({"statistics": records})
    assert stats is not None and stats.value("rocketchat_workspace_users") == 3


def test_empty_statistics_list_means_no_record_and_wrong_shapes_raise() -> None:
    assert parse_statistics_list({"statistics": [], "success": True}) is None
    for body in ({"statistics": "x"}, {"statistics": [1]}, {}, None):
        with pytest.raises(ParseError):
            parse_statistics_list(body)


def test_login_answer_and_error_codes() -> None:
    login = parse_login(fixture("login.json"))
    assert (login.user_id, login.auth_token) == (
        "2aPkof4gCoQuanWRs",
        "N-VfyrE4HyOHhuovRZp3gSge8416TTGzUU6rnHIDotA",
    )
    with pytest.raises(ParseError):
        parse_login(fixture("login-totp-required.json"))
    assert error_code(fixture("login-totp-required.json")) == "totp-required"
    assert error_code(fixture("error-400-statistics-not-allowed.json")) == "error-not-allowed"
    assert error_code(fixture("error-403-legacy.json")) == "unauthorized"
    assert error_code(fixture("error-401-legacy.json")) == ""
    assert error_code(fixture("error-429.json")).endswith("[error-too-many-requests]")


def test_every_fixture_is_understood_by_exactly_the_parser_it_is_for() -> None:
    names = sorted(p.name for p in FIXTURES.glob("*.json"))
    assert len(names) == 36  # the collectors' fixtures: tests/collectors/test_collector_parsers.py
    collectors = ("info", "licenses-", "livez-", "omnichannel-")
    for name in names:
        body = fixture(name)
        if name == "statistics-8.8-fields.json":
            continue  # the field list of the 8.x record: tests/collectors/test_statistics_8x.py
        if name.startswith("instances-"):
            assert parse_instances(body)
        elif name.startswith("statistics-"):
            assert parse_statistics_list(body) is not None
        elif name == "login.json":
            assert parse_login(body).user_id
        elif name.startswith(collectors):
            continue
        else:
            with pytest.raises(ParseError):
                parse_instances(body)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (3, 3.0),
        ("4110323712", 4110323712.0),
        (" 0.41 ", 0.41),
        (True, None),
        ("NaN", None),
        ("inf", None),
        (float("nan"), None),
        (None, None),
        ({"$numberLong": "5"}, None),
        ("12abc", None),
    ],
)
def test_number_is_lenient_but_never_non_finite(raw: object, expected: float | None) -> None:
    result = number(raw)
    assert result == expected
    assert result is None or math.isfinite(result)


def test_timestamp_reads_iso_and_ejson_dates() -> None:
    assert timestamp("2025-06-18T09:12:00.913Z") == ts("2025-06-18T09:12:00.913")
    assert timestamp({"$date": 1750237920913}) == pytest.approx(1750237920.913)
    assert timestamp("Wed Jun 18 2025 09:08:55 GMT+0000") is None
    assert timestamp(12) is None
