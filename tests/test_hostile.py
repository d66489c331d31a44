"""Property-based: arbitrary JSON never breaks the parsers, the renderer or the exposition."""

from __future__ import annotations

import dataclasses
import math
import time
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from exporter.collectors.instances import parse_instances
from exporter.collectors.statistics import parse_statistics_list
from exporter.exposition.render import Renderer
from exporter.rocketchat import errors as rcerrors
from exporter.rocketchat.values import ParseError, parse_login
from exporter.runtime.poller import _paced
from exporter.runtime.state import State

from conftest import INSTANCES, STATISTICS, parse_exposition

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),  # unbounded: JSON numbers have no size limit
    st.integers(min_value=10**300, max_value=10**400) | st.integers(max_value=-(10**300)),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([1.7976931348623157e308, -1.7976931348623157e308, 5e-324]),
    st.text(max_size=20),
    st.text(alphabet=st.characters(categories=["Cs", "Cf", "Cc"]), max_size=6),
    st.sampled_from(
        [
            "NaN",
            "inf",
            "-inf",
            "1e400",
            "0x10",
            "3000",
            " 12 ",
            "true",
            "\\",
            '"',
            "\n",
            "7\udfff",
            "\u202eDOWN",
            "9999-12-31T23:59:59-23:59",
            "0001-01-01T00:00:00+14:00",
            "2025-02-30T00:00:00Z",
        ]
    ),
)
# MongoDB extended-JSON dates with anything inside
dates = st.fixed_dictionaries({"$date": scalars})
json_values = st.recursive(
    scalars | dates,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)
keys = [
    "_id",
    "_createdAt",
    "_updatedAt",
    "name",
    "pid",
    "extraInformation",
    "host",
    "port",
    "os",
    "cpus",
    "totalmem",
    "freemem",
    "loadavg",
    "uptime",
    "conns",
    "nodeVersion",
    "type",
    "currentStatus",
    "connected",
    "local",
    "address",
    "instanceRecord",
    "connection",
]
# objects that look like instance records, so the interesting paths are reached
record_like: Any = st.recursive(
    st.dictionaries(st.sampled_from(keys), json_values, max_size=6),
    lambda children: st.dictionaries(
        st.sampled_from(keys),
        st.one_of(children, json_values, st.lists(children, max_size=3)),
        max_size=6,
    ),
    max_leaves=30,
)
stat_keys = ["createdAt", "version", "totalUsers", "onlineUsers", "totlalLivechat", "totalLivechat"]
header_values = st.one_of(
    st.none(),
    st.text(max_size=40),
    st.integers().map(str),
    st.floats().map(str),
    st.sampled_from(
        ["-1", "0", " 5", "1e3", "nan", "inf", "-inf", "9" * 400, "+3", "٣", "²", "1_000"]
    ),
)
stat_like = st.dictionaries(st.sampled_from(stat_keys), json_values, max_size=6)


def check_numbers_finite(obj: Any) -> None:
    for field in dataclasses.fields(obj):  # the parsed records have __slots__, no __dict__
        value = getattr(obj, field.name)
        if isinstance(value, float):
            assert math.isfinite(value), field.name
        if isinstance(value, str):
            assert value != "nan"


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(json_values, st.fixed_dictionaries({"instances": st.lists(record_like)})))
def test_instances_parser_raises_only_parse_error_and_renders_valid_text(body: Any) -> None:
    try:
        instances = parse_instances(body)
    except ParseError:
        return
    for instance in instances:
        check_numbers_finite(instance)
    state = State([("w", (INSTANCES,))])
    state.record_success("w", INSTANCES, instances, started=0.0, duration=0.1)
    exposition = Renderer(state).plain().decode()  # strict UTF-8: no lone surrogate got through
    parse_exposition(exposition)  # valid, no duplicate series
    ids = [i.instance_id for i in instances]
    assert len(set(ids)) == len(ids)


@settings(max_examples=300, deadline=None)
@given(st.one_of(json_values, st.fixed_dictionaries({"statistics": st.lists(stat_like)})))
def test_statistics_parser_raises_only_parse_error_and_renders_valid_text(body: Any) -> None:
    try:
        stats = parse_statistics_list(body)
    except ParseError:
        return
    if stats is None:
        return
    check_numbers_finite(stats)
    state = State([("w", (STATISTICS,))])
    state.record_success("w", STATISTICS, stats, started=0.0, duration=0.1)
    parse_exposition(Renderer(state).plain().decode())


@settings(max_examples=300, deadline=None)
@given(st.one_of(json_values, st.fixed_dictionaries({"data": json_values})))
def test_login_parser_raises_only_parse_error_and_returns_header_safe_tokens(body: Any) -> None:
    try:
        result = parse_login(body)
    except ParseError:
        return
    for token in (result.user_id, result.auth_token):
        assert token.isascii() and token.isprintable() and " " not in token


@settings(max_examples=400, deadline=None)
@given(remaining=header_values, reset=header_values)
@example(remaining=None, reset="1E-321")  # positive, but 0.0 once in seconds
def test_rate_limit_headers_never_raise_and_pacing_stays_bounded(
    remaining: str | None, reset: str | None
) -> None:
    headers = {
        k: v
        for k, v in (("x-ratelimit-remaining", remaining), ("x-ratelimit-reset", reset))
        if v is not None
    }
    left, reset_at = rcerrors.remaining(headers), rcerrors.reset_seconds(headers)
    assert left is None or left >= 0
    assert reset_at is None or (math.isfinite(reset_at) and reset_at > 0)
    not_before = _paced(left, reset_at)
    assert math.isfinite(not_before)
    assert not_before <= time.time() + 60 + 1  # never past Rocket.Chat's default window
