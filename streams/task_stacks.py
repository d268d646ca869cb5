"""What a hung worker is waiting for: the await chain of every asyncio task, on SIGUSR2.

mode's worker prints each task's stack on SIGUSR1, but a task's stack ends where it awaits an async
generator (``async_generator_asend``: Python keeps no link from it to the generator), which is
exactly where the worker's fetch loop waits (Faust's fetcher iterates the consumer's ``getmany``
generator). Here the chain is followed through coroutines, generators and the running async
generators that a frame holds, down to the innermost await, for the main loop and the consumer
thread's loop.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import types
from collections.abc import Iterable
from typing import Any

log = logging.getLogger("govpulse.worker")


def _frame_of(obj: Any) -> types.FrameType | None:
    for name in ("cr_frame", "ag_frame", "gi_frame"):
        frame = getattr(obj, name, None)
        if frame is not None:
            return frame  # type: ignore[no-any-return]
    return None


def _awaited_by(obj: Any, frame: types.FrameType | None) -> Any:
    for name in ("cr_await", "ag_await", "gi_yieldfrom"):
        nxt = getattr(obj, name, None)
        if nxt is not None:
            if type(nxt).__name__ == "async_generator_asend":
                # Python exposes no attribute from it to the generator it advances, but the
                # garbage collector's references do
                generators = [g for g in gc.get_referents(nxt) if isinstance(g, types.AsyncGeneratorType)]
                return generators[0] if generators else nxt
            return nxt
    return None


def await_chain(coro: Any) -> list[str]:
    """``file:line in function`` for each frame from ``coro`` down to what it awaits last."""
    lines: list[str] = []
    seen: set[int] = set()
    while coro is not None and id(coro) not in seen:
        seen.add(id(coro))
        frame = _frame_of(coro)
        if frame is not None:
            lines.append(f"{frame.f_code.co_filename}:{frame.f_lineno} in {frame.f_code.co_name}")
        else:
            lines.append(repr(coro)[:200])
        coro = _awaited_by(coro, frame)
    return lines


def describe_tasks(loops: Iterable[tuple[str, asyncio.AbstractEventLoop]]) -> str:
    """Every pending task of each loop with its await chain (read from another thread for the
    consumer's loop: a diagnostic snapshot, not synchronised)."""
    out: list[str] = []
    for name, loop in loops:
        try:
            tasks = list(asyncio.all_tasks(loop))
        except RuntimeError as exc:  # the set changed while read from another thread
            out.append(f"== {name}: could not list tasks ({exc})")
            continue
        out.append(f"== {name}: {len(tasks)} tasks")
        for task in tasks:
            out.append(f"-- {task.get_name()}")
            out.extend(f"   {line}" for line in await_chain(task.get_coro()))
    return "\n".join(out)


def install(loops: Any, state: Any = None) -> None:
    """On SIGUSR2, log every task's await chain; ``loops`` returns the (name, loop) pairs then, and
    ``state`` (optional) a text on the consumer's partitions."""
    import signal

    def dump() -> None:
        log.warning("task stacks (SIGUSR2):\n%s", describe_tasks(loops()))
        if state is not None:
            try:
                log.warning("consumer state (SIGUSR2):\n%s", state())
            except Exception:  # a diagnostic must not break the worker
                log.exception("consumer state (SIGUSR2) unavailable")

    asyncio.get_running_loop().add_signal_handler(signal.SIGUSR2, dump)
