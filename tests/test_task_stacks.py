"""The await chains SIGUSR2 logs (streams/task_stacks.py) reach through an async generator to what
it awaits: the place a hung fetch loop would wait, which mode's own stack dump does not show."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from streams.task_stacks import await_chain, describe_tasks


async def _records(gate: asyncio.Event) -> AsyncIterator[int]:
    yield 1
    await _inner_wait(gate)
    yield 2


async def _inner_wait(gate: asyncio.Event) -> None:
    await gate.wait()


async def _fetch_loop(gate: asyncio.Event, seen: list[int]) -> None:
    ait = _records(gate)
    async for n in ait:
        seen.append(n)


def test_the_chain_goes_through_the_async_generator_to_the_innermost_await():
    async def main() -> tuple[list[str], str]:
        gate, seen = asyncio.Event(), []
        task = asyncio.ensure_future(_fetch_loop(gate, seen))
        await asyncio.sleep(0.01)
        assert seen == [1]
        chain = await_chain(task.get_coro())
        text = describe_tasks([("main", asyncio.get_running_loop())])
        gate.set()
        await task
        assert seen == [1, 2]
        return chain, text

    chain, text = asyncio.run(main())
    names = [line.rsplit(" in ", 1)[1] for line in chain if " in " in line]
    assert names[:4] == ["_fetch_loop", "_records", "_inner_wait", "wait"], chain
    assert "_inner_wait" in text and "== main:" in text
