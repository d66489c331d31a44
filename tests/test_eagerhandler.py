"""aiohttp's request handlers start at once, as aiohttp itself does on Python 3.12+
(exporter/eagerhandler.py): first the mechanism on a stand-in coroutine, then real requests."""

from __future__ import annotations

import asyncio
import contextvars
import sys
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from exporter import eagerhandler

# what install() does on 3.11 (on 3.12+ aiohttp starts its handlers eagerly itself)
INSTALLS = sys.version_info < (3, 12)

seen: contextvars.ContextVar[str] = contextvars.ContextVar("seen", default="unset")


async def stand_in(log: list[str], gate: asyncio.Event | None, fail: bool = False) -> str:
    """Plays aiohttp's _handle_request: runs until its first wait, then carries on."""
    seen.set("handler")
    log.append("started")
    if gate is not None:
        try:
            await gate.wait()
        except asyncio.CancelledError:
            log.append("cancelled")
            raise
        log.append("resumed")
    if fail:
        raise LookupError("failed")
    return seen.get()


@pytest.fixture
async def eager_stand_in(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[None]:
    """The factory install() sets on 3.11, set here on any version, for the stand-in."""
    monkeypatch.setattr(eagerhandler, "_HANDLE_REQUEST", stand_in.__code__)
    loop = asyncio.get_running_loop()
    loop.set_task_factory(eagerhandler._factory)  # type: ignore[arg-type]
    yield
    loop.set_task_factory(None)


async def test_a_handler_that_needs_no_wait_runs_where_it_is_created(eager_stand_in: None) -> None:
    log: list[str] = []
    task = asyncio.get_running_loop().create_task(stand_in(log, None))
    assert log == ["started"] and task.done()  # no loop iteration in between
    assert await task == "handler"
    assert seen.get() == "unset"  # in a copy of the context, as a task would have


async def test_a_handler_that_waits_carries_on_in_a_task(eager_stand_in: None) -> None:
    log: list[str] = []
    gate = asyncio.Event()
    task = asyncio.get_running_loop().create_task(stand_in(log, gate))
    assert log == ["started"] and not task.done()
    gate.set()
    assert await task == "handler"
    assert log == ["started", "resumed"]
    assert seen.get() == "unset"


async def test_errors_and_cancellation_reach_the_handler_and_its_awaiter(
    eager_stand_in: None,
) -> None:
    loop = asyncio.get_running_loop()
    with pytest.raises(LookupError):
        await loop.create_task(stand_in([], None, fail=True))
    gate = asyncio.Event()
    failing = loop.create_task(stand_in([], gate, fail=True))
    gate.set()
    with pytest.raises(LookupError):
        await failing
    log: list[str] = []
    waiting = loop.create_task(stand_in(log, asyncio.Event()))
    await asyncio.sleep(0)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert log == ["started", "cancelled"]


async def test_other_tasks_are_created_as_usual(eager_stand_in: None) -> None:
    async def other(log: list[str]) -> None:
        log.append("ran")

    log: list[str] = []
    task = asyncio.get_running_loop().create_task(other(log))
    assert isinstance(task, asyncio.Task) and log == []
    await task
    assert log == ["ran"]


async def test_install_leaves_another_task_factory_in_place() -> None:
    loop = asyncio.get_running_loop()

    def factory(loop: asyncio.AbstractEventLoop, coro: object, **kwargs: object) -> object:
        return asyncio.Task(coro, loop=loop, **kwargs)  # type: ignore[arg-type]

    loop.set_task_factory(factory)  # type: ignore[arg-type]
    try:
        assert not eagerhandler.install(loop)
        assert loop.get_task_factory() is factory
    finally:
        loop.set_task_factory(None)


async def test_nothing_is_installed_for_an_aiohttp_without_the_coroutine_it_knows(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(eagerhandler, "_HANDLE_REQUEST", None)
    loop = asyncio.get_running_loop()
    assert not eagerhandler.install(loop)
    assert loop.get_task_factory() is None


async def test_real_requests_fast_slow_failing_and_cut_short_at_shutdown() -> None:
    """Through aiohttp: an answer from ready bytes, one that waits, a handler error (500), a
    timeout inside a handler, and a handler still waiting when the server stops (cancelled,
    its cleanup run)."""
    loop = asyncio.get_running_loop()
    assert eagerhandler.install(loop) is INSTALLS
    gate, parked, cleaned = asyncio.Event(), asyncio.Event(), asyncio.Event()

    async def ready(request: web.Request) -> web.Response:
        return web.Response(text="ready bytes")

    async def slow(request: web.Request) -> web.Response:
        await gate.wait()
        return web.Response(text="waited")

    async def broken(request: web.Request) -> web.Response:
        raise LookupError("a bug")

    async def timed(request: web.Request) -> web.Response:
        try:  # asyncio.timeout takes the current task: the connection's in the first step
            async with asyncio.timeout(0.05):
                await asyncio.Event().wait()
        except TimeoutError:
            return web.Response(text="timed out")
        raise AssertionError("unreachable")

    async def stuck(request: web.Request) -> web.Response:
        parked.set()
        try:
            await asyncio.Event().wait()
        finally:
            cleaned.set()
        raise AssertionError("unreachable")

    app = web.Application()
    app.router.add_get("/ready", ready)
    app.router.add_get("/slow", slow)
    app.router.add_get("/broken", broken)
    app.router.add_get("/timed", timed)
    app.router.add_get("/stuck", stuck)
    runner = web.AppRunner(app, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        async with aiohttp.ClientSession() as session:
            answers = [session.get(f"{url}/ready") for _ in range(20)]
            for response in await asyncio.gather(*answers):
                assert response.status == 200 and await response.text() == "ready bytes"
            waiting = asyncio.ensure_future(session.get(f"{url}/slow"))
            await asyncio.sleep(0.05)
            assert not waiting.done()
            gate.set()
            response = await waiting
            assert (response.status, await response.text()) == (200, "waited")
            async with session.get(f"{url}/broken") as response:
                assert response.status == 500
            for _ in range(2):  # the same kept-alive connection serves on after the timeout
                async with session.get(f"{url}/timed") as response:
                    assert (response.status, await response.text()) == (200, "timed out")
                async with session.get(f"{url}/ready") as response:
                    assert response.status == 200
            hanging = asyncio.ensure_future(session.get(f"{url}/stuck"))
            await asyncio.wait_for(parked.wait(), 10)
            await runner.cleanup()
            await asyncio.wait_for(cleaned.wait(), 10)
            with pytest.raises(aiohttp.ClientError):
                await hanging
    finally:
        await runner.cleanup()
        loop.set_task_factory(None)
