"""One process: a mailbox, its links and monitors, and the selective receive.

The mailbox is a deque (made on the first message, so an idle process costs
no queue) plus at most one parked task, woken with trio's lowlevel
`reschedule`. A receive that has to wait remembers how many messages it has
already scanned (`_scanned`). Messages only ever join at the right end, so
the ones it has not scanned are always the last `len - _scanned` of the
deque, and a wake-up reaches them from that end (`reversed`): it costs what
arrived since the last scan, however long the scanned part before it. One
deque rather than a second one for the unscanned tail: `deliver`,
`mailbox_len` and a plain receive stay as cheap as they can be, and a
wake-up, timeout or cancellation has nothing to splice back in order.
"""

from __future__ import annotations

import types
from collections import deque
from collections.abc import Generator
from itertools import islice
from typing import TYPE_CHECKING, Any, Final

import trio
from trio.lowlevel import (
    Abort,
    Task,
    checkpoint,
    checkpoint_if_cancelled,
    current_task,
    reschedule,
    wait_task_rescheduled,
)

from ._errors import NotInProcess, ProcessExit, ReceiveTimeout
from ._ids import Down, Exit, Pid, Ref
from ._search import find, find_answer, find_fresh, pop_at

if TYPE_CHECKING:
    from collections.abc import Callable

    from ._node import Node
    from ._timers import Timer

__all__ = [
    "RUNNING",
    "MailboxWatch",
    "Process",
    "add_link",
    "add_monitor",
    "by_task",
    "current",
    "drop_link",
    "find_current",
    "receive",
    "receive_answer",
]

RUNNING: Final = object()
"""`Process.reason` of a process that is neither exiting nor dead."""

# The process each trio task runs. A helper task that a process starts in its
# own nursery is not in here: it finds its process through its parent tasks.
by_task: dict[Task, Process] = {}

# Tasks that act for the node, not for a process, though a process's task
# started them (the cluster's): neither they nor their children are a process.
node_tasks: set[Task] = set()


def find_current() -> Process | None:
    """The process of the calling task (or of its nearest parent task)."""
    try:
        task = current_task()
    except RuntimeError:
        return None
    proc = by_task.get(task)
    if proc is not None:
        return proc
    while task not in node_tasks:
        nursery = task.parent_nursery
        if nursery is None:
            return None
        task = nursery.parent_task
        proc = by_task.get(task)
        if proc is not None:
            return proc
    return None


def current(what: str) -> Process:
    """The calling process, or `NotInProcess` naming the API call `what`."""
    try:
        proc = by_task.get(current_task())  # a process's own task: the usual case
    except RuntimeError:
        raise NotInProcess(what) from None
    if proc is None:
        proc = find_current()
        if proc is None:
            raise NotInProcess(what)
    return proc


# A receive that finds its message ready does not yield to the scheduler;
# after this many such receives in a row it does, so that a process draining
# a full mailbox cannot starve the others (Erlang's reductions, coarsely).
_FAST_RECEIVES: Final = 64


class Process:
    """The state of one process. User code sees only its `Pid`."""

    __slots__ = (
        "_budget",
        "_groups",
        "_links",
        "_monitors",
        "_parked",
        "_queue",
        "_scanned",
        "_timer",
        "_trap",
        "_waiter",
        "_watchers",
        "_watches",
        "alive",
        "fn",
        "name",
        "node",
        "pid",
        "reason",
        "received",
        "scope",
        "task",
        "trap",
    )

    remote = False  # a RemoteProcess (actors._remote) stands for one of another node

    def __init__(self, node: Node, number: int, fn: Callable[..., Any]) -> None:
        self.node = node
        self.pid = Pid(node.name, number, self, node.creation)
        self.fn = fn
        self.scope = trio.CancelScope()
        self.alive = True
        self.reason: Any = RUNNING
        self.trap = False
        self.name: object = None
        self.received = 0  # messages ever delivered (actors.lowlevel.node_info)
        self._queue: deque[Any] | None = None
        self._waiter: Task | None = None
        self._parked = False
        self._scanned = 0  # how many messages, oldest first, a parked receive has looked at
        self._budget = _FAST_RECEIVES
        self._timer: Timer | None = None  # its entry on the node's timer heap (_timers.py)
        # Links and monitors name Processes, or RemoteProcesses (actors._remote).
        self._links: set[Any] | None = None
        self._monitors: dict[Ref, Any] | None = None  # refs this process holds
        self._watchers: dict[Ref, Any] | None = None  # refs held on this process
        self._groups: set[object] | None = None
        self._watches: list[MailboxWatch] | None = None  # see actors.lowlevel

    def __repr__(self) -> str:
        return f"<Process {self.pid!r} {getattr(self.fn, '__qualname__', self.fn)!r}>"

    # -- the mailbox -------------------------------------------------------

    def deliver(self, msg: Any) -> None:
        """Append `msg` to the mailbox and wake the receiver if it is parked."""
        queue = self._queue
        if queue is None:  # no message yet, or dead (`Node.exited` drops the queue)
            if not self.alive:
                return
            queue = self._queue = deque()
        self.received += 1
        queue.append(msg)
        if self._parked:
            self._parked = False
            reschedule(self._waiter, _WOKEN)  # type: ignore[arg-type]

    def mailbox_len(self) -> int:
        return len(self._queue) if self._queue else 0

    def take(self, predicate: Callable[[Any], bool]) -> int:
        """Remove every queued message for which `predicate` holds; count them."""
        queue = self._queue
        if not queue:
            return 0
        # Split at the scan position of a waiting receive (if any): what it
        # already looked at and keeps stays looked at, what is left after it
        # is still to scan. With no receive waiting, `_scanned` is unused.
        scanned = self._scanned
        kept = [msg for msg in islice(queue, scanned) if not predicate(msg)]
        kept_scanned = len(kept)
        kept += [msg for msg in islice(queue, scanned, None) if not predicate(msg)]
        removed = len(queue) - len(kept)
        if removed:
            queue.clear()
            queue.extend(kept)
            self._scanned = kept_scanned
            if self._watches is not None:
                self.check_watches()
        return removed

    def wake(self) -> None:
        """Wake the receiver if it is parked (a timer fired)."""
        if self._parked:
            self._parked = False
            reschedule(self._waiter, _WOKEN)  # type: ignore[arg-type]

    def check_watches(self) -> None:
        """Set the events of the mailbox watches whose condition now holds."""
        watches = self._watches
        if watches is None:
            return
        length = len(self._queue) if self._queue else 0
        kept = [w for w in watches if not w.holds(self, length)]
        self._watches = kept or None

    def end_watches(self) -> None:
        """The process ended: every watch is over."""
        watches, self._watches = self._watches, None
        for watch in watches or ():
            watch.event.set()

    def __call__(self, _raise_cancel: object) -> Abort:
        """The abort function of a receive parked in trio's
        `wait_task_rescheduled` (a cancellation): the process itself, where
        its bound `_abort` was an object made at every wait and kept by
        every parked process, for the cyclic collector to walk again and
        again (three per open WebSocket)."""
        self._parked = False
        return Abort.SUCCEEDED

    # -- exit signals --------------------------------------------------------

    def exit_signal(self, sender: Pid, reason: Any, *, untrappable: bool = False) -> None:
        """Deliver an exit signal from `sender`, as Erlang does.

        `untrappable` is for `exit(pid, "kill")`. A "normal" signal is ignored
        by a process that does not trap exits, unless it sent it to itself.
        """
        if self.reason is not RUNNING or not self.alive:
            return
        if untrappable:
            self.die("killed")
        elif self.trap:
            self.deliver(Exit(sender, reason))
        elif not (_is(reason, "normal") and sender != self.pid):
            self.die(reason)

    def link_exit(self, sender: Pid, reason: Any) -> None:
        """A process linked to this one ended with `reason` (the link is
        already gone from both sides)."""
        self.exit_signal(sender, reason)

    def monitor_down(self, ref: Ref, pid: Pid | Any, reason: Any) -> None:
        """The process this one monitors with `ref` ended: `Down`, if the
        monitor is still on."""
        if self._monitors and self._monitors.pop(ref, None) is not None:
            self.deliver(Down(ref, pid, reason))

    def die(self, reason: Any) -> None:
        """End this process with `reason` at its next checkpoint.

        When the caller is this very process (or one of its helper tasks), it
        ends at once: `ProcessExit` unwinds the caller's stack.
        """
        if self.reason is RUNNING:  # the first exit signal wins
            self.reason = reason
            self.scope.cancel()
        if find_current() is self:
            raise ProcessExit(self.reason)


async def receive(*patterns: object, timeout: float | None = None) -> Any:
    """Take the oldest message matching any of `patterns` (any, if none).

    Others stay queued in order. `timeout` is in seconds (0 polls); when it
    passes, `ReceiveTimeout` is raised.
    """
    try:
        task = current_task()
    except RuntimeError:
        raise NotInProcess("receive") from None
    proc = by_task.get(task)
    if proc is None:
        proc = current("receive")  # a helper task acts for its process
    if proc._waiter is not None:
        raise trio.BusyResourceError(
            f"another task is already receiving on the mailbox of {proc.pid!r}"
        )
    queue = proc._queue
    if queue:
        if not proc._budget:
            # After _FAST_RECEIVES ready messages in a row, a schedule point.
            # It comes before the search (another task may change the queue
            # meanwhile), so that the search is still done once.
            proc._budget = _FAST_RECEIVES
            await checkpoint()
            return await receive(*patterns, timeout=timeout)
        index = 0 if not patterns else find(queue, patterns)
        if index >= 0:
            # The message is ready: a cancel point, which lets no other task
            # run, so `index` stays valid.
            proc._budget -= 1
            await checkpoint_if_cancelled()
            msg = pop_at(queue, index)
            if proc._watches is not None:
                proc.check_watches()
            return msg
    if not patterns and timeout is None:
        # The plain receive, the one a ping-pong makes: park until a message
        # comes and take the first. (The general loop below does the same
        # with a fifth more bytecodes: opcode trace of a round trip.)
        proc._waiter = task
        try:
            while True:
                proc._parked = True
                if proc._watches is not None:
                    proc.check_watches()
                await wait_task_rescheduled(proc)
                queue = proc._queue
                if queue:
                    return queue.popleft()
        except BaseException:
            proc._parked = False  # a wake-up (deliver, wake, abort) has cleared it otherwise
            raise
        finally:
            proc._waiter = None
            proc._budget = _FAST_RECEIVES
            if proc._watches is not None:
                proc.check_watches()
    if timeout is None:
        timer = None
    elif timeout <= 0:
        await checkpoint()
        raise ReceiveTimeout("no matching message in the mailbox")
    else:
        timer = proc.node.timers.start(proc, timeout)
    # Park until a message arrives; scan only what arrived since last time.
    # (Only a selective receive reads `_scanned`: a plain one parks with an
    # empty mailbox and takes the first message that comes.)
    proc._waiter = task
    if patterns:
        proc._scanned = len(queue) if queue else 0
    try:
        while True:
            proc._parked = True
            if proc._watches is not None:
                proc.check_watches()
            await wait_task_rescheduled(proc)
            queue = proc._queue
            if queue:
                if not patterns:
                    return queue.popleft()
                # Only what arrived since the last scan. (Kept small: every
                # local or stack slot more makes each parked frame 8 bytes bigger.)
                index = find_fresh(queue, patterns, proc._scanned)
                if index >= 0:
                    return pop_at(queue, index)
                proc._scanned = len(queue)
            if timer is not None and timer.fired:
                raise ReceiveTimeout(f"no matching message within {timeout} s")
    finally:
        _unparked(proc, timer)


@types.coroutine
def receive_answer(
    proc: Process, task: Task, ref: Ref, timeout: float | None
) -> Generator[Any, Any, Any]:
    """`receive` of the answer to a call (actors._call): `(ref, value)` or
    a `Down` of `ref`, for the process `proc` whose task `task` calls.

    The same receive as `receive(pattern, timeout=timeout)`, its budget,
    busy check, watches and scan position included, with the pattern tested
    inline: a call waits once per request, and its predicate reached through
    `matches_any`, `_find_fresh` and `_pop` on every wake-up. (This, with the
    inline monitor and the timers' direct clock, took 8% off a call's
    instructions: callgrind.) A generator, not a coroutine: one
    frame less on each call's wait.
    """
    if proc._waiter is not None:
        raise trio.BusyResourceError(
            f"another task is already receiving on the mailbox of {proc.pid!r}"
        )
    queue = proc._queue
    if queue:
        if not proc._budget:
            proc._budget = _FAST_RECEIVES
            yield from checkpoint().__await__()  # noqa: ASYNC105 - awaited: a generator-based coroutine
            return (yield from receive_answer(proc, task, ref, timeout))
        index = find_answer(queue, ref, 0)
        if index >= 0:
            proc._budget -= 1
            yield from checkpoint_if_cancelled().__await__()  # noqa: ASYNC105 - as above
            msg = pop_at(queue, index)
            if proc._watches is not None:
                proc.check_watches()
            return msg
    if timeout is None:
        timer = None
    elif timeout <= 0:
        yield from checkpoint().__await__()  # noqa: ASYNC105 - as above
        raise ReceiveTimeout("no matching message in the mailbox")
    else:
        timer = proc.node.timers.start(proc, timeout)
    proc._waiter = task
    proc._scanned = len(queue) if queue else 0
    try:
        while True:
            proc._parked = True
            if proc._watches is not None:
                proc.check_watches()
            yield from wait_task_rescheduled(proc).__await__()  # noqa: ASYNC105 - as above
            queue = proc._queue
            if queue:
                scanned = proc._scanned
                if len(queue) == scanned + 1:  # the usual wake-up: one new message
                    msg = queue[-1]
                    kind = type(msg)
                    if (kind is tuple and len(msg) == 2 and msg[0] is ref) or (
                        kind is Down and msg.ref is ref
                    ):
                        return queue.pop()
                else:
                    index = find_answer(queue, ref, scanned)
                    if index >= 0:
                        return pop_at(queue, index)
                proc._scanned = len(queue)
            if timer is not None and timer.fired:
                raise ReceiveTimeout(f"no answer within {timeout} s")
    finally:
        # _unparked, inline: a call ends here every time.
        proc._waiter = None
        proc._parked = False
        proc._budget = _FAST_RECEIVES
        if timer is not None:
            timer.want = None
        if proc._watches is not None:
            proc.check_watches()


def _unparked(proc: Process, timer: Timer | None) -> None:
    """The end of a receive that waited, however it ended: the mailbox free
    for the next receive, the budget full, the timer's entry kept for the
    next timed receive (_timers.py) but no longer wanted."""
    proc._waiter = None
    proc._parked = False
    proc._budget = _FAST_RECEIVES
    if timer is not None:
        timer.want = None
    if proc._watches is not None:
        proc.check_watches()


# -- the bookkeeping of links and monitors -------------------------------------
# One place for both sides of each relation. Either side may be a Process or
# a RemoteProcess (actors._remote), which keeps the same fields.


def add_link(a: Any, b: Any) -> None:
    """Record a link between `a` and `b`, on both."""
    if a._links is None:
        a._links = set()
    if b._links is None:
        b._links = set()
    a._links.add(b)
    b._links.add(a)


def drop_link(a: Any, b: Any) -> None:
    """Forget the link between `a` and `b`, on both, if there is one."""
    if a._links:
        a._links.discard(b)
    if b._links:
        b._links.discard(a)


def add_monitor(watcher: Any, ref: Ref, target: Any) -> None:
    """Record that `watcher` monitors `target` with `ref`, on both."""
    if watcher._monitors is None:
        watcher._monitors = {}
    if target._watchers is None:
        target._watchers = {}
    watcher._monitors[ref] = target
    target._watchers[ref] = watcher


class MailboxWatch:
    """One waiter of actors.lowlevel: idle (`below` is None), or the
    mailbox shorter than `below` messages."""

    __slots__ = ("below", "event")

    def __init__(self, below: int | None) -> None:
        self.below = below
        self.event = trio.Event()

    def holds(self, proc: Process, length: int) -> bool:
        """Set the event if the condition holds now; say whether it did."""
        below = self.below
        if (proc._parked if below is None else length < below) or not proc.alive:
            self.event.set()
            return True
        return False


# -- waking a parked receive ---------------------------------------------------


class _Woken:
    """What `deliver` and `wake` reschedule a parked receive with: one
    object, sent again and again, where trio's default builds an
    `outcome.Value(None)` (an attrs frozen class) that the wait then
    unwraps, once only. `wait_task_rescheduled` only calls `unwrap` on
    what it is sent."""

    __slots__ = ()

    def unwrap(self) -> None:
        """Nothing to return or raise: a message came, or a timer fired."""


_WOKEN: Final[Any] = _Woken()


def _is(reason: Any, name: str) -> bool:
    return type(reason) is str and reason == name
