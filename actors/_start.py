"""OTP's synchronous start (proc_lib's `start_link` / `init_ack`), shared by
GenServer, GenStatem and Supervisor, and the `starter` mark.

`start_process` spawns the new process with a `Starter` as its last
argument and waits until the process says how its `init` went. A process
whose `init` failed unlinks from its starter before it exits, so the caller
of `start_link` gets `StartError`, not an exit signal that would kill it.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any, Final, ParamSpec, TypeVar

from ._api import demonitor_from, monitor_from, spawn_as, unlink
from ._errors import StartError
from ._ids import Down, Pid, Ref
from ._process import current, receive

__all__ = ["Starter", "is_starter", "start_process", "starter"]

_ACK: Final = object()  # (_ACK, ref, outcome): init is over
_STARTED: Final = object()  # the outcome of an init that returned

P = ParamSpec("P")
T = TypeVar("T")


class Starter:
    """What a starting process holds of its starter: `parent` is the
    starter's Pid when linked (the process whose exit stops it), else None."""

    __slots__ = ("_pid", "_ref", "parent")

    def __init__(self, pid: Pid, ref: Ref, linked: bool) -> None:
        self._pid = pid
        self._ref = ref
        self.parent = pid if linked else None

    def started(self) -> None:
        """`init` returned: the starter's `start` returns the Pid."""
        self._answer(_STARTED)

    def failed(self, reason: Any) -> None:
        """`init` failed with `reason`: unlink, so that the exit about to
        follow does not reach the starter, and let it raise StartError."""
        if self.parent is not None:
            unlink(self.parent)
        self._answer(reason)

    def _answer(self, outcome: Any) -> None:
        proc = self._pid._proc
        if proc is not None:
            proc.deliver((_ACK, self._ref, outcome))


async def start_process(
    what: str,  # the call the user made, as an error outside a process names it
    body: Callable[..., Awaitable[Any]],
    args: tuple[Any, ...],
    *,
    name: object,
    link: bool,
    trap_exits: bool,
) -> Pid:
    """Spawn `body(*args, starter)` and return its Pid once it has called
    `starter.started()`; raise `StartError` if it failed or died first.

    After a failure this returns only once the process is dead, so that a
    registered name is free again when the caller sees the error.
    """
    caller = current(what)
    ref = Ref()
    pid = spawn_as(what, body, (*args, Starter(caller.pid, ref, link)), name, link, trap_exits)
    watch = monitor_from(caller, pid)

    def answered(msg: Any) -> bool:
        if type(msg) is tuple:
            return len(msg) == 3 and msg[0] is _ACK and msg[1] is ref
        return type(msg) is Down and msg.ref is watch

    try:
        answer = await receive(answered)
        if type(answer) is Down:  # killed, or ended, before init returned
            raise StartError(answer.reason)
        if answer[2] is not _STARTED:
            await receive(lambda msg: type(msg) is Down and msg.ref is watch)
            raise StartError(answer[2])
    finally:
        demonitor_from(caller, watch, flush=True)
    return pid


def starter(fn: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
    """Mark an async function as a starter: one that starts a process,
    linked to its caller, and returns its Pid once it has started.

    A supervisor awaits a starter given to `child(...)` and supervises the
    Pid it returns, where it would run any other async function as the
    child's own body. `GenServer.start_link`, `GenStatem.start_link` and
    `Supervisor.start_link` are starters.
    """
    fn.__actors_starter__ = True  # type: ignore[attr-defined]
    return fn


def is_starter(fn: Callable[..., Any]) -> bool:
    """Whether `fn` (or the function a partial wraps) is marked a starter."""
    while isinstance(fn, functools.partial):
        fn = fn.func
    return getattr(fn, "__actors_starter__", False) is True
