"""The status pages: fleet overview and workspace page, server-rendered and filterable without
JavaScript, enhanced with it (checked in headless Chromium over the DevTools protocol), safe
against hostile strings, and photographed at 4 and 1000 workspaces.

UPDATE_SCREENSHOTS=1 copies the screenshots into docs/screenshots/ (the README shows them).
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import json
import os
import re
import shutil
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from test_browser import FLAGS, chromium

from exporter.collectors.instances import parse_instances
from exporter.collectors.statistics import PARAMS as STATISTICS_PARAMS
from exporter.collectors.statistics import parse_statistics_list
from exporter.demo.fleet import FakeInstance, FakeWorkspace, make_statistics
from exporter.demo.landscape import config_for, demo_workspaces
from exporter.demo.server import FakeRocketChat, start_health
from exporter.runtime.state import State
from exporter.web.app import make_app
from exporter.web.fleetpage import MAX_ROWS

from conftest import INSTANCES, STATISTICS, fast_config, fixture, free_port, wait_for
from faults import respond

REPO = Path(__file__).parent.parent.parent
SHOTS = REPO / "docs" / "screenshots"
HOSTILE = '<img src=x onerror="document.title=1">\u202eevil'


# -- a state filled without polling: fast at any size ------------------------------------------


def fill(state: State, name: str, workspace: FakeWorkspace, *, failing: str = "") -> None:
    """Record the fake workspace's answers (or a failure) as a poll would."""
    now = time.time()
    state.add(name, (INSTANCES, STATISTICS)).url = f"https://{name}.chat.example.com"
    state.record_success(
        name, INSTANCES, parse_instances(workspace.instances_body()), started=now, duration=0.05
    )
    if failing:
        state.record_failure(
            name, STATISTICS, failing, f"statistics.list: HTTP 403 {HOSTILE}",
            started=now, duration=0.02, count_under=STATISTICS,
        )  # fmt: skip
    else:
        _, body = workspace.statistics_body(STATISTICS_PARAMS)
        state.record_success(
            name, STATISTICS, parse_statistics_list(body), started=now, duration=0.04
        )


def fleet_state(size: int, hostile: bool = True) -> State:
    """`size` workspaces: mostly healthy, some down, some with a disconnected instance, some
    with day-old statistics, some Community Edition; hostile strings in a few (unless not
    `hostile`: the README's screenshots)."""
    state = State([])
    now = time.time()
    for i in range(size):
        kind = i % 10
        version = HOSTILE if i == 3 and hostile else f"7.{i % 12}.{i % 5}"
        instances = [
            FakeInstance(f"id-{i}-{n}", f"10.{i // 250}.{i % 250}.{n + 1}", local=n == 0,
                         connected=not (kind == 2 and n == 2), conns=100 + 7 * n + i % 50)
            for n in range(3)
        ]  # fmt: skip
        if i == 3 and hostile:
            instances[1].host = HOSTILE
        workspace = FakeWorkspace(
            name=f"ws-{i:04d}",
            shape="B-ce" if kind == 5 else "B",
            instances=instances,
            statistics=[make_statistics(version, now - (30 * 3600 if kind == 7 else 600), 50 + i)],
        )
        fill(state, workspace.name, workspace, failing="forbidden" if kind == 4 else "")
    return state


@pytest.fixture
async def serve_state() -> AsyncIterator[Any]:
    runners = []

    async def start(state: State) -> str:
        runner = web.AppRunner(make_app(state))
        await runner.setup()
        port = free_port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        runners.append(runner)
        return f"http://127.0.0.1:{port}"

    yield start
    for runner in runners:
        await runner.cleanup()


async def get(url: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as session, session.get(url) as resp:
        return resp.status, await resp.text()


def rows_of(page: str) -> list[str]:
    return re.findall(r'<a href="/workspace/([^"]+)">', page)


async def test_overview_summarizes_sorts_unhealthy_first_and_filters_without_javascript(
    serve_state: Any,
) -> None:
    url = await serve_state(fleet_state(40))
    status, page = await get(url + "/")
    assert status == 200
    summary = page.split('<ul class="summary">')[1].split("</ul>")[0]
    expected = [("40", "workspaces"), ("4", "down"), ("4", "instance disconnected"),
                ("4", "statistics stale"), ("4", "links not reported")]  # fmt: skip
    for count, label in expected:
        assert "<b" in summary and re.search(rf">{count}</b> {label}", summary), label
    order = rows_of(page)
    assert len(order) == 40
    down = [f"ws-{i:04d}" for i in range(40) if i % 10 == 4]
    assert order[:4] == down  # the unhealthy first
    assert 'href="/?state=down"' in summary  # numbers link to the filtered view
    _, unreported = await get(url + "/?state=unreported")
    assert len(rows_of(unreported)) == 4  # the chip counts what its filter lists: workspaces
    _, only_down = await get(url + "/?state=down")
    assert rows_of(only_down) == down and "4 of 40 shown" in only_down
    _, by_name = await get(url + "/?q=ws-001")
    assert sorted(rows_of(by_name)) == [f"ws-001{i}" for i in range(10)]
    _, fragment = await get(url + "/?state=stale&fragment=1")
    assert fragment.startswith('<ul class="summary">') and "<html" not in fragment
    assert rows_of(fragment) == [f"ws-{i:04d}" for i in range(40) if i % 10 == 7]


async def test_workspace_page_shows_every_instance_statistics_and_what_to_do(
    fake: FakeRocketChat, exporter_for: Any
) -> None:
    config = fast_config(fake)
    moved = config.workspaces[1]
    assert moved.name == "new"
    secret_url = moved.url.replace("http://", "http://admin:hunter2@")
    workspaces = list(config.workspaces)
    workspaces[1] = dataclasses.replace(moved, url=secret_url)
    config = dataclasses.replace(config, workspaces=tuple(workspaces))
    forbidden = respond(403, {"success": False, "error": "unauthorized"})
    fake.workspaces["old"].overrides["statistics.list"] = forbidden
    run = await exporter_for(config)
    await wait_for(lambda: run.exporter.state.ready, "first polls")
    status, page, _ = await run.get("/workspace/new")
    assert status == 200
    text = re.sub(r"<[^>]+>", "", page)
    for instance in fake.workspaces["new"].instances:
        assert f"{instance.host}:{instance.port}" in text
    assert "DISCONNECTED" in text and "connected" in text  # uuid-new-3
    assert "412" in text and "398" in text  # connections
    assert "14.9 GiB" in text  # memory total of 16 GB
    assert "8.8.1" in text and "1843" in text  # statistics: version, users
    assert "hunter2" not in page and "admin:" not in page
    assert moved.url.removeprefix("http://") in text  # the URL, credentials removed
    _, old, _ = await run.get("/workspace/old")
    assert "forbidden" in old and "the permission the error names: view-statistics" in old
    assert (await run.get("/workspace/nope"))[0] == 404
    for workspace in fake.workspaces.values():
        assert workspace.token not in page and workspace.token not in old


# -- in Chromium ---------------------------------------------------------------------------------


class DevTools:
    """Just enough of the Chrome DevTools protocol to load a page and evaluate expressions."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.ids = itertools.count(1)

    async def call(self, method: str, **params: Any) -> Any:
        ident = next(self.ids)
        await self.ws.send_json({"id": ident, "method": method, "params": params})
        while True:
            message = await asyncio.wait_for(self.ws.receive_json(), timeout=60)
            if message.get("id") == ident:
                assert "error" not in message, message
                return message["result"]

    async def eval(self, expression: str) -> Any:
        result = await self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return result["result"].get("value")


@pytest.fixture
async def browser(tmp_path: Path) -> AsyncIterator[DevTools]:
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        chromium(), *FLAGS, f"--user-data-dir={tmp_path / 'profile'}",
        f"--remote-debugging-port={port}", "about:blank",
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    async with aiohttp.ClientSession() as session:
        targets: list[dict[str, Any]] = []

        async def listening() -> bool:
            nonlocal targets
            try:
                async with session.get(f"http://127.0.0.1:{port}/json/list") as resp:
                    targets = [t for t in await resp.json() if t["type"] == "page"]
            except aiohttp.ClientError:
                return False
            return bool(targets)

        await wait_for(listening, "chromium's DevTools endpoint", deadline=60)
        async with session.ws_connect(targets[0]["webSocketDebuggerUrl"], max_msg_size=0) as ws:
            yield DevTools(ws)
    process.terminate()
    await process.wait()


async def test_hostile_strings_inject_nothing_and_the_filter_works_as_you_type(
    serve_state: Any, browser: DevTools
) -> None:
    url = await serve_state(fleet_state(40))
    await browser.call("Page.enable")
    await browser.call("Page.navigate", url=url + "/")
    await wait_for(
        lambda: browser.eval("document.readyState === 'complete'"), "the overview loaded"
    )
    assert await browser.eval("document.querySelectorAll('main img, main script').length") == 0
    assert await browser.eval("document.title") != "1"  # no onerror ran
    assert await browser.eval("document.querySelectorAll('tbody tr').length") == 40
    await browser.eval(
        "var i = document.querySelector('input[name=q]'); i.value = 'ws-002';"
        "i.dispatchEvent(new Event('input', {bubbles: true}))"
    )

    async def filtered() -> bool:
        return bool(await browser.eval("document.querySelectorAll('tbody tr').length") == 10)

    await wait_for(filtered, "rows filtered as the name is typed")
    assert await browser.eval("location.search") == "?q=ws-002&state="  # shareable URL
    await browser.call("Page.navigate", url=url + "/workspace/ws-0003")
    await wait_for(lambda: browser.eval("document.readyState === 'complete'"), "workspace page")
    assert await browser.eval("document.querySelectorAll('main img, main script').length") == 0
    cells = await browser.eval("document.querySelector('tbody').innerText")
    assert HOSTILE.replace('"', '"') in cells  # shown as text


async def test_screenshots_of_both_pages_on_the_demo_and_at_1000_workspaces(
    serve_state: Any, exporter_for: Any, tmp_path: Path
) -> None:
    fake = FakeRocketChat(demo_workspaces())  # what `make run` shows
    await fake.start()
    await start_health(fake)
    demo = await exporter_for(
        config_for(fake, poll_interval=0.5, statistics_interval=0.5, every_collector=True)
    )
    await wait_for(lambda: demo.exporter.state.ready, "the demo polled")
    small = demo.exporter.url

    async def optional_polled() -> bool:
        _, page, _ = await demo.get("/")
        chips = (
            "seats near limit",
            "collector failing",
            "heap near limit",
            "chats queued, no agent",
        )
        return all(f"</b> {chip}</a>" in page for chip in chips)

    await wait_for(optional_polled, "the demo's optional collectors polled")
    started = time.perf_counter()
    large_state = fleet_state(1000, hostile=False)
    large = await serve_state(large_state)
    render_started = time.perf_counter()
    status, page = await get(large + "/")
    render = time.perf_counter() - render_started
    assert status == 200 and len(rows_of(page)) == MAX_ROWS  # the unhealthy first
    assert f"the first {MAX_ROWS} of 1000 listed" in page
    print(f"\n1000 workspaces: state built in {render_started - started:.2f}s, overview served "
          f"in {render * 1000:.0f} ms ({len(page) // 1024} KiB)")  # fmt: skip
    shots = {
        "overview-demo.png": (small + "/", "1280,800"),
        "overview-1000.png": (large + "/", "1280,900"),
        "overview-1000-phone.png": (large + "/?state=down", "390,844"),
        "workspace.png": (small + "/workspace/acme-prod", "1280,1000"),
        "workspace-phone.png": (small + "/workspace/acme-prod", "390,844"),
    }
    for name, (address, size) in shots.items():
        path = tmp_path / name
        process = await asyncio.create_subprocess_exec(
            chromium(), *(f for f in FLAGS if not f.startswith("--window-size")),
            f"--window-size={size}", f"--user-data-dir={tmp_path / f'profile-{name}'}",
            "--hide-scrollbars", f"--screenshot={path}", address,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        _, stderr = await asyncio.wait_for(process.communicate(), timeout=120)
        assert process.returncode == 0, stderr.decode()[-2000:]
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 5_000
        if os.environ.get("UPDATE_SCREENSHOTS"):
            SHOTS.mkdir(parents=True, exist_ok=True)
            shutil.copy(path, SHOTS / name)
    await fake.stop()
    for name in shots:  # the README shows the committed ones
        assert (SHOTS / name).exists(), f"run UPDATE_SCREENSHOTS=1 pytest {__file__}"
        assert f"docs/screenshots/{name}" in (REPO / "README.md").read_text()
    _ = json


def test_the_fleet_page_lists_at_most_max_rows_workspaces_the_unhealthy_first() -> None:
    """At 10 000 workspaces the page would be megabytes rendered in the event loop at every
    refresh: it lists MAX_ROWS, the unhealthy first, and says how many it left out."""
    from exporter.web.fleetpage import fleet_main

    names = [f"w{i:05d}" for i in range(MAX_ROWS + 40)]
    state = State([(name, (INSTANCES,)) for name in names])
    for name in names[:-1]:
        answer = parse_instances(fixture("instances-7x.json"))
        state.record_success(name, INSTANCES, answer, started=0, duration=0.1)
    state.record_failure(
        names[-1], INSTANCES, "timeout", "x", started=1, duration=2, count_under=INSTANCES
    )
    main = fleet_main(state, "", "", time.time())
    assert f"the first {MAX_ROWS} of {MAX_ROWS + 40} listed" in main
    assert main.index(names[-1]) < main.index(names[0])  # the one down comes first
    assert names[MAX_ROWS] not in main


def test_the_fleet_page_is_judged_at_most_once_per_ttl_for_the_same_query() -> None:
    """Clients reloading the fleet page without pause get the answer of the last TTL seconds:
    at 10 000 workspaces each judgment takes a fifth of a second of the event loop."""
    from exporter.web.app import PageCache

    cache = PageCache()
    key = ("", "down", True)
    assert cache.get(key, 100.0) is None
    cache.put(key, 100.0, b"<main>")
    assert cache.get(key, 100.0 + PageCache.TTL / 2) == b"<main>"
    assert cache.get(("", "down", False), 100.5) is None  # another query, its own answer
    assert cache.get(key, 100.0 + PageCache.TTL) is None  # expired: judged again
    for n in range(PageCache.MAX_ENTRIES + 5):  # a client varying ?q= cannot grow it
        cache.put((str(n), "", False), 200.0, b"x")
    assert len(cache._answers) <= PageCache.MAX_ENTRIES
