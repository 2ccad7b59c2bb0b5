"""Receive timeouts: one timer task per node instead of a cancel scope per wait.

Entering and leaving a trio cancel scope with a deadline costs more than a
whole message round trip, and a gen_server call waits with a timeout every
time. So a timed receive only states its deadline; one timer task sleeps
until the earliest deadline and wakes the receivers whose time is up.

Each process keeps one entry on the node's heap (`Process._timer`), reused
from one timed receive to the next. A receive whose deadline is no earlier
than the entry's just writes its own deadline into the entry (`want`), and
one that ends first just clears it: the hot path touches neither the heap
nor the timer task. When an entry comes due, the timer task looks at what
it holds then: no receive waiting (dropped), a receive waiting for later
(pushed again at that time: a process whose receives keep ending before
their timeouts costs one heap push per timeout, not one per receive), or a
receive whose time is up (woken). Only a deadline earlier than the entry's
puts a new entry on the heap (the old one is dropped when it comes due, or
in a sweep once dropped entries are many).
"""

from __future__ import annotations

import heapq
import math
from itertools import count
from typing import TYPE_CHECKING, Final

import trio
from trio.lowlevel import (
    Abort,
    Task,
    current_clock,
    current_task,
    reschedule,
    wait_task_rescheduled,
)

if TYPE_CHECKING:
    from ._process import Process

__all__ = ["Timer", "Timers"]

_SWEEP_AT: Final = 1024  # dropped entries on the heap before a sweep is considered


class Timer:
    """A process's entry on the heap: due at `deadline`; `want` is the
    deadline of the receive waiting on it now (None: none waits);
    `fired` once that receive's time was up."""

    __slots__ = ("deadline", "fired", "proc", "seq", "want")

    def __init__(self, deadline: float, seq: int, proc: Process) -> None:
        self.deadline = deadline
        self.seq = seq
        self.proc: Process | None = proc  # None once dropped or fired
        self.want: float | None = deadline
        self.fired = False

    def __lt__(self, other: Timer) -> bool:
        if self.deadline != other.deadline:
            return self.deadline < other.deadline
        return self.seq < other.seq


class Timers:
    """The heap of the processes' receive deadlines of one node, and its timer task."""

    def __init__(self) -> None:
        # The run's clock, looked up once: `trio.current_time()` is three
        # calls deep, and a gen_server call asks for the time on each wait.
        self._clock = current_clock()
        self._heap: list[Timer] = []
        self._seq = count()
        self._dropped = 0  # entries on the heap whose proc is None
        self._sleeping_until = math.inf  # the deadline the timer task waits for
        self._scope: trio.CancelScope | None = None  # set while it sleeps
        self._parked: Task | None = None  # set while it waits for any timer

    def start(self, proc: Process, timeout: float) -> Timer:
        """The entry a receive of `proc` waiting `timeout` seconds waits on."""
        deadline = self._clock.current_time() + timeout
        timer = proc._timer
        if timer is not None:
            if timer.deadline <= deadline:  # due first: it is pushed again then
                timer.want = deadline
                return timer
            timer.proc = None  # due too late: dropped when it comes due
            self._dropped += 1
        timer = proc._timer = Timer(deadline, next(self._seq), proc)
        self._push(timer)
        return timer

    def forget(self, proc: Process) -> None:
        """`proc` ended: its entry holds it no longer."""
        timer, proc._timer = proc._timer, None
        if timer is not None:
            timer.proc = None
            self._dropped += 1

    def _push(self, timer: Timer) -> None:
        heap = self._heap
        if self._dropped > _SWEEP_AT and self._dropped * 2 > len(heap):
            heap[:] = [t for t in heap if t.proc is not None]
            heapq.heapify(heap)
            self._dropped = 0
        heapq.heappush(heap, timer)
        if timer.deadline < self._sleeping_until:
            self._sleeping_until = timer.deadline
            if self._scope is not None:
                self._scope.deadline = timer.deadline
            elif self._parked is not None:
                task, self._parked = self._parked, None
                reschedule(task)

    def _due(self, now: float) -> None:
        """Every entry due by `now`: dropped, pushed again, or fired."""
        heap = self._heap
        while heap and heap[0].deadline <= now:
            timer = heapq.heappop(heap)
            proc = timer.proc
            if proc is None:
                self._dropped -= 1
                continue
            want = timer.want
            if want is not None and want > now:  # its receive waits for later
                timer.deadline = want
                timer.seq = next(self._seq)
                heapq.heappush(heap, timer)
                continue
            timer.proc = None
            if proc._timer is timer:
                proc._timer = None
            if want is not None:
                timer.fired = True
                proc.wake()

    async def run(self) -> None:
        """The timer task: handle what is due, then sleep until the next."""
        heap = self._heap
        while True:
            self._due(self._clock.current_time())
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
