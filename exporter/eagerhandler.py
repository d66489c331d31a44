"""Start a request's handler at once, in the loop iteration that read the request.

aiohttp runs each request's handler in a task of its own. On Python 3.12 and later it starts
that task eagerly (`eager_start=True`): the handler runs until its first real wait right
where the task is created, and a /metrics answer from ready bytes is written without waiting
for another turn of the loop. Python 3.11 has no eager tasks, so there the handler waits one
more loop iteration behind every callback queued meanwhile (under heavy polling, 10-25 poll
answers being decoded, 0.5-1.5 ms). `install` gives 3.11 the same behaviour for that one
coroutine: a loop task factory that runs aiohttp's `_handle_request` one step in a copy of
the context (what the task would have had) and only wraps the rest in a task if it has to
wait. Every other task is created as usual; on 3.12 and later nothing is installed.
"""

from __future__ import annotations

import asyncio
import contextvars
import sys
import types
from collections.abc import Coroutine, Generator
from typing import Any

from aiohttp.web_protocol import RequestHandler

# the coroutine aiohttp (3.8 to 3.14 at least) wraps in a task per request; None if a later
# version renamed it: then nothing is installed and handlers start as aiohttp starts them
_HANDLE_REQUEST = getattr(getattr(RequestHandler, "_handle_request", None), "__code__", None)


def install(loop: asyncio.AbstractEventLoop) -> bool:
    """Make `loop` start aiohttp's request handlers eagerly; False where it need not (3.12+,
    where aiohttp does it itself) or cannot (another task factory is in place, or an aiohttp
    without the coroutine it knows)."""
    if sys.version_info >= (3, 12) or _HANDLE_REQUEST is None or loop.get_task_factory():
        return False
    loop.set_task_factory(_factory)  # type: ignore[arg-type]
    return True


def _factory(
    loop: asyncio.AbstractEventLoop,
    coro: Coroutine[Any, Any, Any],
    context: contextvars.Context | None = None,
) -> asyncio.Future[Any]:
    if getattr(coro, "cr_code", None) is not _HANDLE_REQUEST:
        return asyncio.Task(coro, loop=loop, context=context)
    context = contextvars.copy_context() if context is None else context
    done: asyncio.Future[Any] = loop.create_future()
    try:
        waiting_on = context.run(coro.send, None)
    except StopIteration as finished:
        done.set_result(finished.value)
        return done
    except asyncio.CancelledError:
        done.cancel()
        return done
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # handed to whoever awaits it, as a task would
        done.set_exception(exc)
        return done
    return asyncio.Task(_rest(coro, waiting_on), loop=loop, context=context)


async def _rest(coro: Coroutine[Any, Any, Any], waiting_on: Any) -> Any:
    return await _resume(coro, waiting_on)


@types.coroutine
def _resume(coro: Coroutine[Any, Any, Any], waiting_on: Any) -> Generator[Any, Any, Any]:
    """Carry on a coroutine already started: hand its first wait to the task, then pass every
    value and exception through, as `await` would have."""
    while True:
        try:
            sent = yield waiting_on
        except GeneratorExit:
            coro.close()
            raise
        except BaseException as exc:  # a cancellation, passed on to the handler
            try:
                waiting_on = coro.throw(exc)
            except StopIteration as finished:
                return finished.value
        else:
            try:
                waiting_on = coro.send(sent)
            except StopIteration as finished:
                return finished.value
