"""The 8.x statistics record: every field of the 8.8 typings (fixtures/statistics-8.8-fields.json)
parsed from a record built with plausible values of each type; every numeric field exported or
left out on purpose (statcoverage.NOT_EXPORTED); removed fields absent, drifted types dropped
field by field without failing the poll."""

from __future__ import annotations

import time
from typing import Any

import pytest

from exporter.collecting import statfields
from exporter.collecting.statcoverage import exported, left_out
from exporter.collectors.statistics import Statistics, parse_statistics
from exporter.demo.fleet import iso
from exporter.exposition.render import Renderer
from exporter.runtime.state import State

from conftest import STATISTICS, fixture, parse_exposition, promtool_check_metrics, series

FIELDS: list[dict[str, Any]] = fixture("statistics-8.8-fields.json")["fields"]
NUMERIC = [f["path"] for f in FIELDS if "number" in f["type"] and "[]" not in f["type"]]
NOW = time.time()


def plausible(kind: str, index: int) -> Any:
    """A value of a typings type, as a real record carries it."""
    if "number" in kind and "[]" not in kind:
        return 10 + index
    if kind == "boolean":
        return index % 2 == 0
    if "Date" in kind:
        return iso(NOW - 3600)
    if kind.endswith("[]"):
        return []
    if "AggregationResult" in kind:
        return {"year": 2026, "month": 12, "day": 5, "data": [{"count": 40 + index}]}
    if kind in ("string", "NodeJS.Platform"):
        return f"value-{index}"
    return {}


def record_from_typings() -> dict[str, Any]:
    record: dict[str, Any] = {}
    for index, field in enumerate(FIELDS):
        keys = field["path"].split(".")
        node = record
        for key in keys[:-1]:
            node = node.setdefault(key, {})
            if not isinstance(node, dict):
                break
        else:
            node.setdefault(keys[-1], plausible(field["type"], index))
    record["version"] = "8.8.1"
    record["createdAt"] = iso(NOW - 600)
    record["lastLogin"] = "Sat Dec 05 2026 09:08:55 GMT+0000 (Coordinated Universal Time)"
    record["fileStoreType"] = "GridFS"
    return record


def exposition(stats: Statistics) -> str:
    """/metrics of one workspace whose statistics poll brought `stats`."""
    state = State([("w", (STATISTICS,))])
    state.record_success("w", STATISTICS, stats, started=NOW, duration=0.1)
    return Renderer(state).plain().decode()


def value_of(stats: Statistics, path: str) -> float | None:
    """What the parsed record holds for `path` (None: no series)."""
    for index, (_family, _label, _, source) in enumerate(statfields.SOURCES):
        if path in source.split("|"):
            return statfields.at(stats.values, index)
    raise AssertionError(f"{path} is read by no metric")


def test_every_numeric_field_of_the_8_8_record_is_exported_or_left_out_with_a_reason() -> None:
    read = exported()
    unaccounted = [p for p in NUMERIC if p not in read and left_out(p) is None]
    both = [p for p in NUMERIC if p in read and left_out(p) is not None]
    assert unaccounted == [] and both == []
    assert len(NUMERIC) > 100  # the list is the real one, not a stub


def test_the_full_8_8_record_parses_and_every_exported_numeric_field_has_its_series() -> None:
    stats = parse_statistics(record_from_typings())
    missing = [p for p in NUMERIC if p in exported() and value_of(stats, p) is None]
    assert missing == []
    assert stats.version == "8.8.1" and stats.file_store == "GridFS"
    assert stats.deployment is not None
    text = exposition(stats)
    promtool_check_metrics(text)
    samples = parse_exposition(text)
    assert series(samples, "rocketchat_workspace_file_store_info") == [
        {"workspace": "w", "type": "GridFS"}
    ]


REMOVED = ("totalOTR", "totalOTRRooms", "voipCalls", "voipExtensions", "voipSuccessfulCalls")


def test_fields_removed_upstream_give_no_series_never_zero() -> None:
    record = record_from_typings()
    for path in REMOVED:
        record.pop(path, None)
    stats = parse_statistics(record)
    text = exposition(stats)
    assert "otr" not in text.lower() and "voip" not in text.lower()
    assert stats.value("rocketchat_workspace_users") is not None  # the rest is there


DRIFTS = [False, True, "12 users", {"count": 3}, [1, 2], None, float("nan"), -1e400]


@pytest.mark.parametrize("drift", DRIFTS, ids=[repr(d) for d in DRIFTS])
def test_a_drifted_type_drops_only_that_field_and_never_the_poll(drift: Any) -> None:
    record = record_from_typings()
    record["matrixFederation"]["maximumSizeOfPublicRoomsUsers"] = False  # as real 8.7 sends
    drifted = ["totalUsers", "dailyPeakConnections", "migration.version", "pushQueue"]
    for path in drifted:
        *parents, last = path.split(".")
        node = record
        for key in parents:
            node = node[key]
        node[last] = drift
    stats = parse_statistics(record)  # no ParseError
    for path in drifted:
        assert value_of(stats, path) is None, path
    assert value_of(stats, "activeUsers") is not None
    assert value_of(stats, "totalThreads") is not None


def test_the_file_store_type_is_one_word_or_no_series() -> None:
    record = record_from_typings()
    for kind in ("FileSystem", "AmazonS3", "GoogleCloudStorage", "Webdav"):
        record["fileStoreType"] = kind
        assert parse_statistics(record).file_store == kind
    for bad in ("", "   ", "GridFS\n" + "x" * 500, "x" * 65, 'a"b', 3, None, ["GridFS"]):
        record["fileStoreType"] = bad
        assert parse_statistics(record).file_store is None
