"""Runtime per process, counted only while someone watches (`watch()`).

A trio Instrument stamps `time.perf_counter` before and after each task
step and adds the difference to the process the task belongs to (its own
task, or a helper task in one of its nurseries). It is installed when the
first `watch()` opens and removed when the last one closes: with none open
the scheduler runs with no instrument at all, so looking costs nothing
while nobody looks. What was counted stays, so a process's runtime is
unchanged between two watches.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, suppress
from time import perf_counter
from typing import TYPE_CHECKING, Any, Final

import trio
from trio.abc import Instrument
from trio.lowlevel import RunVar, Task

from ._process import by_task, find_current

if TYPE_CHECKING:
    from ._process import Process

__all__ = ["runtime_of", "watch"]

_UNKNOWN: Final = object()


class _Runtime(Instrument):
    """The running time of processes' task steps, per process."""

    def __init__(self) -> None:
        self.watchers = 0
        self.installed = False
        self.started = -1.0  # the current step's start; -1: none seen
        self.runtimes: dict[Process, float] = {}
        self.owners: dict[Task, Process | None] = {}

    def before_task_step(self, task: Task) -> None:
        self.started = perf_counter()

    def after_task_step(self, task: Task) -> None:
        if self.started < 0:  # installed during this step: its start is unknown
            return
        spent = perf_counter() - self.started
        self.started = -1.0
        proc: Any = self.owners.get(task, _UNKNOWN)
        if proc is _UNKNOWN:
            proc = _owner(task)
            if proc is _UNKNOWN:
                return
            self.owners[task] = proc
        if proc is not None:
            runtimes = self.runtimes
            runtimes[proc] = runtimes.get(proc, 0.0) + spent

    def task_exited(self, task: Task) -> None:
        self.owners.pop(task, None)

    def prune(self) -> None:
        """Forget the processes that ended."""
        for proc in [p for p in self.runtimes if not p.alive]:
            del self.runtimes[proc]


def _owner(task: Task) -> Process | object | None:
    """The process `task` works for; None for a task of no process (the
    node's timers, its cluster tasks); `_UNKNOWN` while a process's task
    has not registered itself yet (its first step), or has unregistered."""
    proc = by_task.get(task)
    if proc is not None:
        return proc
    if task.name == "actors.process":
        return _UNKNOWN
    nursery = task.parent_nursery
    while nursery is not None:
        parent = nursery.parent_task
        proc = by_task.get(parent)
        if proc is not None:
            # The node's own nursery belongs to the task that opened the
            # node, but what runs in it (timers, cluster) is no process's.
            return None if nursery is proc.node._nursery else proc
        nursery = parent.parent_nursery
    return None


_state: RunVar[_Runtime] = RunVar("actors_runtime")


def _current() -> _Runtime:
    try:
        return _state.get()
    except LookupError:
        runtime = _Runtime()
        _state.set(runtime)
        return runtime


@contextmanager
def watch() -> Iterator[None]:
    """Count processes' running time while the block runs (see
    `actors.lowlevel.process_rows`' "runtime"). Blocks may nest and
    overlap: counting goes on until the last one ends."""
    runtime = _current()
    runtime.watchers += 1
    if not runtime.installed:
        runtime.prune()
        me = find_current()
        for proc in me.node.procs.values() if me is not None else ():
            runtime.runtimes.setdefault(proc, 0.0)  # watched from now: 0, not None
        trio.lowlevel.add_instrument(runtime)
        runtime.installed = True
    try:
        yield
    finally:
        runtime.watchers -= 1
        if runtime.watchers == 0 and runtime.installed:
            trio.lowlevel.remove_instrument(runtime)
            runtime.installed = False
            runtime.owners.clear()
            runtime.prune()


def runtime_of(proc: Process) -> float | None:
    """Seconds `proc` has run while watched; None if it never was."""
    try:
        runtime = _state.get()
    except LookupError:
        return None
    return runtime.runtimes.get(proc)


def prune() -> None:
    with suppress(LookupError):
        _state.get().prune()
