"""Receive timeouts: one timer task per node instead of a cancel scope per wait.

Entering and leaving a trio cancel scope with a deadline costs more than a
whole message round trip, and a gen_server call waits with a timeout every
time. So a timed receive only pushes its deadline on a heap; one timer task
sleeps until the earliest deadline and wakes the receivers whose time is up.
A receive that ends first just marks its entry dead (dropped lazily). With
steady timeouts each new deadline is later than the one the timer sleeps
for, so the hot path never touches the timer's own cancel scope.
"""

from __future__ import annotations

import heapq
import math
from itertools import count
from typing import TYPE_CHECKING

import trio
from trio.lowlevel import Abort, Task, current_task, reschedule, wait_task_rescheduled

if TYPE_CHECKING:
    from ._process import Process

__all__ = ["Timer", "Timers"]


class Timer:
    """One timed receive's deadline. `fired` once its time is up."""

    __slots__ = ("deadline", "fired", "proc", "seq")

    def __init__(self, deadline: float, seq: int, proc: Process) -> None:
        self.deadline = deadline
        self.seq = seq
        self.proc: Process | None = proc  # None once cancelled or fired
        self.fired = False

    def __lt__(self, other: Timer) -> bool:
        return (self.deadline, self.seq) < (other.deadline, other.seq)


class Timers:
    """The heap of pending receive deadlines of one node, and its timer task."""

    def __init__(self) -> None:
        self._heap: list[Timer] = []
        self._seq = count()
        self._sleeping_until = math.inf  # the deadline the timer task waits for
        self._scope: trio.CancelScope | None = None  # set while it sleeps
        self._parked: Task | None = None  # set while it waits for any timer

    def start(self, proc: Process, timeout: float) -> Timer:
        timer = Timer(trio.current_time() + timeout, next(self._seq), proc)
        heapq.heappush(self._heap, timer)
        if timer.deadline < self._sleeping_until:
            self._sleeping_until = timer.deadline
            if self._scope is not None:
                self._scope.deadline = timer.deadline
            elif self._parked is not None:
                task, self._parked = self._parked, None
                reschedule(task)
        return timer

    def cancel(self, timer: Timer) -> None:
        timer.proc = None
        heap = self._heap
        while heap and heap[0].proc is None:
            heapq.heappop(heap)

    async def run(self) -> None:
        """The timer task: fire what is due, then sleep until the next."""
        heap = self._heap
        while True:
            now = trio.current_time()
            while heap and (heap[0].proc is None or heap[0].deadline <= now):
                timer = heapq.heappop(heap)
                proc = timer.proc
                if proc is not None:
                    timer.proc = None
                    timer.fired = True
                    proc.wake()
            if heap:
                self._sleeping_until = heap[0].deadline
                with trio.CancelScope(deadline=self._sleeping_until) as self._scope:
                    await trio.sleep_forever()
                self._scope = None
            else:
                self._sleeping_until = math.inf
                self._parked = current_task()
                await wait_task_rescheduled(self._abort)

    def _abort(self, _raise_cancel: object) -> Abort:
        self._parked = None
        return Abort.SUCCEEDED
