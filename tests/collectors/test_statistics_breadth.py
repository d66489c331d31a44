"""More from the same statistics record (no extra request) and extra_statistics: the parser on
every statistics fixture and its edge values, and end to end over loopback."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from exporter.collecting import statfields
from exporter.collecting.statfields import js_date
from exporter.collectors.statistics import parse_statistics_list
from exporter.demo.server import FakeRocketChat

from conftest import fast_config, fixture, promtool_check_metrics, series, value


def by_family(answer: str, extra: tuple[str, ...] = ()) -> dict[tuple[str, str], float]:
    stats = parse_statistics_list(fixture(answer), extra)
    assert stats is not None
    found = {(family, label): value for family, label, value in statfields.present(stats.values)}
    found.update({("extra", path): v for path, v in stats.extra})
    return found


def test_every_field_of_a_full_8x_record() -> None:
    found = by_family("statistics-list.json")
    assert found[("rocketchat_workspace_connections_peak", 'period="day"')] == 497
    assert found[("rocketchat_workspace_connections_peak", 'period="month"')] == 561
    assert found[("rocketchat_workspace_unique_users", 'period="day"')] == 1012
    assert found[("rocketchat_workspace_unique_users", 'period="month"')] == 1571
    assert found[("rocketchat_workspace_apps", 'state="installed"')] == 6
    assert found[("rocketchat_workspace_apps", 'state="failed"')] == 0  # 0 is a value
    assert found[("rocketchat_workspace_integrations_active", 'type="outgoing"')] == 4
    assert found[("rocketchat_workspace_teams", "")] == 58
    assert found[("rocketchat_workspace_migration_locked", "")] == 0
    assert found[("rocketchat_workspace_migration_version", "")] == 316
    # "Wed Jun 18 2025 09:08:55 GMT+0000 (Coordinated Universal Time)"
    assert found[("rocketchat_workspace_last_login_timestamp_seconds", "")] == 1750237735
    assert found[("rocketchat_workspace_last_message_timestamp_seconds", "")] > 1.75e9
    stats = parse_statistics_list(fixture("statistics-list.json"))
    assert stats is not None and dict(stats.deployment or ()) == {
        "mongo_version": "7.0.14",
        "mongo_storage_engine": "wiredTiger",
        "oplog_enabled": "true",
        "microservices": "false",
        "deploy_method": "docker",
        "deploy_platform": "selfinstall",
    }


def test_edge_values_are_absent_series_never_zeros() -> None:
    found = by_family("statistics-list-edge.json")
    families = {family for family, _ in found}
    assert "rocketchat_workspace_apps" not in families  # apps.* false: engine not ready
    assert "rocketchat_workspace_connections_peak" not in families  # fields absent
    assert "rocketchat_workspace_last_login_timestamp_seconds" not in families  # ""
    assert "rocketchat_workspace_last_message_timestamp_seconds" not in families  # null
    assert found[("rocketchat_workspace_unique_users", 'period="day"')] == 0  # data: []


def test_an_old_record_has_only_what_it_carries() -> None:
    found = by_family("statistics-list-docs-example.json")
    assert {family for family, _ in found} == {
        # what 0.61 carried of the older table: no busyUsers, uploads or discussions yet
        "rocketchat_workspace_users",
        "rocketchat_workspace_active_users",
        "rocketchat_workspace_users_by_status",
        "rocketchat_workspace_rooms",
        "rocketchat_workspace_rooms_by_type",
        "rocketchat_workspace_messages",
        "rocketchat_workspace_messages_by_room_type",
        "rocketchat_workspace_statistics_timestamp_seconds",
        "rocketchat_workspace_deactivated_users",
        "rocketchat_workspace_last_message_timestamp_seconds",
        "rocketchat_workspace_last_login_timestamp_seconds",  # ISO before 6.2
    }
    stats = parse_statistics_list(fixture("statistics-list-docs-example.json"))
    assert stats is not None and stats.deployment is None


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("Wed Jun 18 2025 09:08:55 GMT+0000 (Coordinated Universal Time)", 1750237735),
        ("Wed Jun 18 2025 11:08:55 GMT+0200 (Central European Summer Time)", 1750237735),
        ("Wed Jun 18 2025 09:08:55 GMT+0000", 1750237735),
        ("Tue Jun 17 2025 23:38:55 GMT-0930 (Marquesas Time)", 1750237735),
        ("Wed Feb 30 2025 09:08:55 GMT+0000", None),
        ("Wed Jux 18 2025 09:08:55 GMT+0000", None),
        ("2025-06-18T09:08:55.000Z", 1750237735),
        ("", None),
        ("yesterday", None),
        ("Xyz Jun 99 2025 09:08:55 GMT+0000", None),
        (None, None),
        (12, None),
    ],
)
def test_last_login_reads_date_to_string_and_iso(text: Any, seconds: float | None) -> None:
    assert js_date(text) == seconds


def test_extra_statistics_numbers_strings_and_booleans() -> None:
    found = by_family(
        "statistics-list.json",
        ("integrations.totalWithScriptEnabled", "oplogEnabled", "migration", "no.such", "version"),
    )
    extras = {path: v for (kind, path), v in found.items() if kind == "extra"}
    assert extras == {"integrations.totalWithScriptEnabled": 9, "oplogEnabled": 1}


async def test_end_to_end_with_extra_statistics(fake: FakeRocketChat, exporter_for: Any) -> None:
    fake.workspaces["new"].statistics = fixture("statistics-list.json")["statistics"]
    fake.workspaces["old"].statistics = fixture("statistics-list-edge.json")["statistics"]
    config = dataclasses.replace(
        fast_config(fake), extra_statistics=("integrations.totalWithScriptEnabled", "pushQueue")
    )
    run = await exporter_for(config)
    samples = await run.wait_until(
        lambda s: value(s, "rocketchat_workspace_teams", workspace="new") == 58, "breadth"
    )
    assert value(samples, "rocketchat_workspace_apps", workspace="new", state="enabled") == 5
    assert value(samples, "rocketchat_workspace_statistic", workspace="new",
                 field="integrations.totalWithScriptEnabled") == 9  # fmt: skip
    (deployment,) = series(samples, "rocketchat_workspace_deployment_info", workspace="new")
    assert deployment["mongo_version"] == "7.0.14" and deployment["microservices"] == "false"
    # apps engine not ready in the record of "old": absent, not 0
    await run.wait_until(
        lambda s: value(s, "rocketchat_workspace_teams", workspace="old") == 58, "old's record"
    )
    assert not series(await run.samples(), "rocketchat_workspace_apps", workspace="old")
    promtool_check_metrics(await run.metrics())
