"""Property-based: arbitrary JSON never breaks the parsers, the renderer or the exposition."""

from __future__ import annotations

import math
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exporter.parse import ParseError, parse_instances, parse_statistics_list
from exporter.render import Renderer
from exporter.state import INSTANCES, STATISTICS, State

from conftest import parse_exposition

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from(
        ["NaN", "inf", "-inf", "1e400", "0x10", "3000", " 12 ", "true", "\\", '"', "\n"]
    ),
)
json_values = st.recursive(
    scalars,
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
stat_like = st.dictionaries(st.sampled_from(stat_keys), json_values, max_size=6)


def check_numbers_finite(obj: Any) -> None:
    for field, value in vars(obj).items():
        if isinstance(value, float):
            assert math.isfinite(value), field
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
    parse_exposition(Renderer(state).plain().decode())  # valid, no duplicate series


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
