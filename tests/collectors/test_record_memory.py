"""What a workspace's parsed answers cost in memory: every byte of a record is ~10 KB of RSS
at 10 000 workspaces, so the records are measured against the fixtures (object sizes are exact,
not timings), with room for another Python's object layout."""

from __future__ import annotations

import copy
import gc
import math
import sys

from exporter.collecting import statfields
from exporter.collectors.instances import parse_instances
from exporter.collectors.statistics import parse_statistics_list

from conftest import fixture

# bytes (sys.getsizeof, shared interned strings counted too); before the numbers were kept
# unboxed: 840-874 per instance and 2764-2892 per statistics record
MAX_PER_INSTANCE = 760
MAX_PER_STATISTICS_RECORD = 2100


def deep_size(root: object) -> int:
    seen: set[int] = set()
    total, stack = 0, [root]
    while stack:
        obj = stack.pop()
        if id(obj) in seen or isinstance(obj, type):
            continue
        seen.add(id(obj))
        total += sys.getsizeof(obj)
        stack.extend(gc.get_referents(obj))
    return total


def test_an_instance_record_keeps_its_numbers_unboxed_and_stays_small() -> None:
    for name in ("instances-7x.json", "instances-4x.json", "instances-7x-strings.json"):
        answer = parse_instances(fixture(name))
        assert deep_size(answer) / len(answer) <= MAX_PER_INSTANCE, name
        for instance in answer:
            assert not any(isinstance(o, float) for o in gc.get_referents(instance))


def test_a_statistics_record_keeps_its_values_unboxed_and_stays_small() -> None:
    for name in ("statistics-list.json", "statistics-list-edge.json"):
        stats = parse_statistics_list(fixture(name))
        assert stats is not None
        assert deep_size(stats) <= MAX_PER_STATISTICS_RECORD, name


def test_an_absent_statistics_field_reads_as_none_and_has_no_sample() -> None:
    body = copy.deepcopy(fixture("statistics-list.json"))
    del body["statistics"][0]["totalUsers"]
    stats = parse_statistics_list(body)
    assert stats is not None
    assert stats.value("rocketchat_workspace_users") is None
    assert "rocketchat_workspace_users" not in {f for f, _, _ in statfields.present(stats.values)}
    assert all(not math.isnan(v) for _, _, v in statfields.present(stats.values))
    assert stats.value("rocketchat_workspace_active_users") is not None


def test_workspaces_on_the_same_deployment_share_one_deployment_tuple() -> None:
    first = parse_statistics_list(fixture("statistics-list.json"))
    second = parse_statistics_list(copy.deepcopy(fixture("statistics-list.json")))
    assert first is not None and second is not None and first.deployment is not None
    assert first.deployment is second.deployment
    other = copy.deepcopy(fixture("statistics-list.json"))
    other["statistics"][0]["mongoVersion"] = "9.9.9"
    third = parse_statistics_list(other)
    assert third is not None and third.deployment is not None
    assert dict(third.deployment)["mongo_version"] == "9.9.9"
    assert dict(first.deployment)["mongo_version"] != "9.9.9"


def test_records_with_absent_numbers_still_compare_by_their_values() -> None:
    """NaN marks an absent number, and NaN is unequal to itself: the unboxed arrays compare
    absent with absent as equal (as None == None did), so two parses of one answer are equal."""
    body = copy.deepcopy(fixture("instances-7x.json"))
    body["instances"][0]["instanceRecord"]["extraInformation"].pop("conns", None)
    first, second = parse_instances(body), parse_instances(copy.deepcopy(body))
    assert first.items[0].connections is None
    assert first == second
    assert (first.items[0].numbers != second.items[0].numbers) is False
    body["instances"][0]["instanceRecord"]["extraInformation"]["conns"] = 7
    assert parse_instances(body) != first
    edge = parse_statistics_list(fixture("statistics-list-edge.json"))
    assert edge is not None and any(math.isnan(v) for v in edge.values)
    assert edge == parse_statistics_list(fixture("statistics-list-edge.json"))
