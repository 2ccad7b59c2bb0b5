"""Bare-trio anchors for the actors bench: the same workloads without actors.

Two variants: a memory channel per task (what idiomatic trio code does), and
a deque with a parked task woken by `trio.lowlevel.reschedule` (the least a
mailbox can cost on trio).
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import trio
from trio.lowlevel import Abort, Task, checkpoint, current_task, reschedule, wait_task_rescheduled

# What the actors bench times with: wall time, or with `--cpu` this
# process's CPU time (on a shared machine wall time also counts whatever
# else the CPU ran meanwhile; CPU time counts only this process).
CLOCKS: dict[str, Callable[[], float]] = {"wall": time.perf_counter, "cpu": time.process_time}
_clock = [time.perf_counter]


def use_clock(name: str) -> None:
    """Time with the clock `name` ("wall" or "cpu") from now on."""
    _clock[0] = CLOCKS[name]


def now() -> float:
    """The time on the clock chosen with `use_clock` (seconds)."""
    return _clock[0]()


class BareMailbox:
    """A deque and at most one parked reader: the lowlevel anchor."""

    __slots__ = ("queue", "waiter")

    def __init__(self) -> None:
        self.queue: deque[Any] = deque()
        self.waiter: Task | None = None

    def put(self, msg: Any) -> None:
        self.queue.append(msg)
        waiter = self.waiter
        if waiter is not None:
            self.waiter = None
            reschedule(waiter)

    async def get(self) -> Any:
        while not self.queue:
            self.waiter = current_task()
            await wait_task_rescheduled(self._abort)
        return self.queue.popleft()

    def _abort(self, _raise_cancel: object) -> Abort:
        self.waiter = None
        return Abort.SUCCEEDED


class ChannelMailbox:
    """A trio memory channel pair: the idiomatic anchor."""

    __slots__ = ("get_channel", "put_channel")

    def __init__(self) -> None:
        self.put_channel, self.get_channel = trio.open_memory_channel[Any](math.inf)

    def put(self, msg: Any) -> None:
        self.put_channel.send_nowait(msg)

    async def get(self) -> Any:
        return await self.get_channel.receive()


Mailbox = BareMailbox | ChannelMailbox


async def ping_pong(kind: type[Mailbox], rounds: int) -> float:
    """Round trips between two tasks; returns elapsed seconds."""
    mine, theirs = kind(), kind()

    async def ponger() -> None:
        while True:
            reply_to = await theirs.get()
            if reply_to is None:
                return
            reply_to.put("pong")

    async with trio.open_nursery() as nursery:
        nursery.start_soon(ponger)
        start = now()
        for _ in range(rounds):
            theirs.put(mine)
            await mine.get()
        elapsed = now() - start
        theirs.put(None)
    return elapsed


async def ring(kind: type[Mailbox], size: int, laps: int) -> float:
    """A token passed `laps` times round `size` tasks; returns elapsed seconds."""
    boxes = [kind() for _ in range(size)]
    done = kind()

    async def member(box: Mailbox, following: Mailbox) -> None:
        while True:
            token = await box.get()
            if token == 0:
                done.put(None)
                following.put(0)  # let the rest of the ring end too
                return
            following.put(token - 1)

    async with trio.open_nursery() as nursery:
        for index, box in enumerate(boxes):
            nursery.start_soon(member, box, boxes[(index + 1) % size])
        await checkpoint()
        start = now()
        boxes[0].put(size * laps)
        await done.get()
        elapsed = now() - start
        nursery.cancel_scope.cancel()
    return elapsed


async def get_in_own_scope(box: Mailbox) -> Any:
    """`box.get()` inside a cancel scope of this task's own: on public trio,
    the least a task costs that something else can cancel alone (as a
    process can be killed alone)."""
    with trio.CancelScope():
        return await box.get()


async def idle_tasks(
    kind: type[Mailbox], count: int, ready: trio.Event, own_scope: bool = False
) -> None:
    """Start `count` tasks each parked on its own mailbox (each in a cancel
    scope of its own with `own_scope`); set `ready`."""
    async with trio.open_nursery() as nursery:
        for _ in range(count):
            if own_scope:
                nursery.start_soon(get_in_own_scope, kind())
            else:
                nursery.start_soon(kind().get)
        await trio.testing.wait_all_tasks_blocked()
        ready.set()
        await trio.sleep_forever()
