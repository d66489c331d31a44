"""The exposition text: escaping, grouping, absent values, caching."""

from __future__ import annotations

import gzip

import pytest
from aiohttp.test_utils import TestClient, TestServer

from exporter.collecting.expfmt import fmt
from exporter.collectors.instances import InstancesAnswer, parse_instances
from exporter.exposition import publisher as publisher_module
from exporter.exposition.render import Renderer
from exporter.runtime.state import State
from exporter.web import app as web

from conftest import (
    INSTANCES,
    STATISTICS,
    parse_exposition,
    promtool_check_metrics,
    series,
    value,
    wait_for,
)


def hostile_instances() -> InstancesAnswer:
    record = {
        "_id": 'id"with\\quotes\nand newline',
        "name": "rocket.chat \ud800 lone surrogate",
        "extraInformation": {"host": "höst-ü", "port": "3000", "os": {"cpus": "2"}},
    }
    return parse_instances({"instances": [record]})


def test_label_values_are_escaped_and_the_output_stays_valid() -> None:
    state = State([("w1", (INSTANCES,)), ("w2", (INSTANCES, STATISTICS))])
    state.record_success("w1", INSTANCES, hostile_instances(), started=0.0, duration=0.5)
    state.record_success("w2", INSTANCES, hostile_instances(), started=0.0, duration=0.5)
    text = Renderer(state).plain().decode()
    promtool_check_metrics(text)
    samples = parse_exposition(text)
    (info,) = series(samples, "rocketchat_instance_info", workspace="w1")
    assert info["instance_id"] == 'id"with\\quotes\nand newline'
    assert info["host"] == "höst-ü"
    assert info["name"] == "rocket.chat \\ud800 lone surrogate"  # escaped, not merged into "?"
    assert value(samples, "rocketchat_up", workspace="w1") == 1
    assert value(samples, "rocketchat_up", workspace="w2") is None  # statistics not polled yet


def test_each_family_is_one_group_across_workspaces() -> None:
    state = State([(f"w{i}", (INSTANCES,)) for i in range(3)])
    for i in range(3):
        state.record_success(f"w{i}", INSTANCES, hostile_instances(), started=0, duration=0.1)
    text = Renderer(state).plain().decode()
    headers = [line.split()[2] for line in text.splitlines() if line.startswith("# TYPE")]
    assert len(headers) == len(set(headers))
    order = [line.split("{")[0] for line in text.splitlines() if not line.startswith("#")]
    families_in_order = [name for i, name in enumerate(order) if i == 0 or order[i - 1] != name]
    assert len(families_in_order) == len(set(families_in_order))


def test_cache_is_reused_until_the_state_changes() -> None:
    state = State([("w", (INSTANCES,))])
    renderer = Renderer(state)
    first = renderer.plain()
    assert renderer.plain() is first
    state.record_success("w", INSTANCES, hostile_instances(), started=0, duration=0.1)
    second = renderer.plain()
    assert second is not first and b"rocketchat_instance_cpus" in second
    state.record_failure(
        "w", INSTANCES, "timeout", "x", started=1, duration=2, count_under=INSTANCES
    )
    third = renderer.plain().decode()
    assert "rocketchat_instance_cpus" not in third
    errors = 'rocketchat_exporter_poll_errors_total{workspace="w",endpoint="instances.get"'
    assert errors + ',reason="timeout"} 1' in third
    assert 'rocketchat_up{workspace="w"} 0' in third


async def test_gzip_compressed_in_slices_and_plain_joined_on_demand_carry_the_same_exposition(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The publisher keeps the parts and their gzip, not a joined copy: gzip is compressed a
    slice of parts at a time; the plain text is joined only while plain scrapes come (by the
    render after one, else at the scrape). Both must be the renderer's text, byte for byte,
    then the self-metrics."""
    monkeypatch.setattr(publisher_module, "SLICE_PARTS", 3)  # many slices even for a small fleet
    state = State([(f"w{i}", (INSTANCES,)) for i in range(7)])
    for i in range(7):
        state.record_success(f"w{i}", INSTANCES, hostile_instances(), started=0, duration=0.1)
    expected = Renderer(state).plain()
    server = TestServer(web.make_app(state))
    async with TestClient(server) as client:
        publisher = client.app[web.PUBLISHER_KEY]
        await wait_for(lambda: bool(publisher.parts) and publisher.gzip_current, "the first render")
        response = await client.get(
            "/metrics", headers={"Accept-Encoding": "gzip"}, auto_decompress=False
        )
        assert response.headers["Content-Encoding"] == "gzip"
        zipped = gzip.decompress(await response.read())
        assert publisher._joined is None  # gzip scrapes never make the plain copy
        plain = await (await client.get("/metrics", headers={"Accept-Encoding": ""})).read()
        assert publisher._joined is not None
        for joined_by_the_render in (True, False):
            generation = publisher.generation
            state.record_success("w0", INSTANCES, hostile_instances(), started=1, duration=0.1)
            await wait_for(lambda g=generation: publisher.generation > g, "the next render")
            # a plain scrape came since the render before: this one joins the text too;
            # none came: the text is dropped
            assert (publisher._joined is not None) is joined_by_the_render
    for body in (plain, zipped):
        assert body.startswith(expected)
        assert b"python_info" in body[len(expected) :]  # the self-metrics follow
    assert plain.count(b"\n") == zipped.count(b"\n")


async def test_before_its_gzip_stream_is_made_the_first_exposition_goes_out_plain() -> None:
    """/ready does not wait for the gzip stream of the first complete exposition: a gzip scrape
    in between gets the same exposition uncompressed (HTTP allows it), never the stream of
    the render before."""
    state = State([("w0", (INSTANCES,))])
    state.record_success("w0", INSTANCES, hostile_instances(), started=0, duration=0.1)
    expected = Renderer(state).plain()
    server = TestServer(web.make_app(state))
    async with TestClient(server) as client:
        publisher = client.app[web.PUBLISHER_KEY]
        await wait_for(lambda: publisher.complete and publisher.gzip_current, "the first render")
        publisher.gzip_current = False  # as between the first publish and its gzip stream
        response = await client.get(
            "/metrics", headers={"Accept-Encoding": "gzip"}, auto_decompress=False
        )
        assert "Content-Encoding" not in response.headers
        assert (await response.read()).startswith(expected)


def test_number_formatting_is_exact_for_integers_and_round_trips_floats() -> None:
    assert fmt(61204875123.0) == "61204875123"
    assert fmt(0.87) == "0.87"
    assert fmt(1e20) == "1e+20"
    assert float(fmt(1795458424.4783597)) == 1795458424.4783597


def test_the_shared_family_sets_stay_bounded_whatever_fields_servers_send() -> None:
    """Which statistics fields a record has is up to the server: a server answering with a new
    combination at every poll must not grow the table of shared family sets for ever."""
    from exporter.collecting.registry import ORDER
    from exporter.exposition import encoder

    families = list(ORDER)[:12]
    for mask in range(1, 4096):  # every non-empty subset of 12 families
        out = {f: ([f"{f} 1\n"] if mask >> i & 1 else []) for i, f in enumerate(families)}
        names, lines = encoder._encoded(out)
        assert names == tuple(f for i, f in enumerate(families) if mask >> i & 1)
        assert len(lines) == len(names)
    assert len(encoder._NAMES) <= encoder.MAX_SHARED_NAMES
