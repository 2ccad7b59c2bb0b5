"""Calls: OTP's gen:call, the request and reply that every server speaks.

A call monitors the server, sends `(CALL, From(caller, ref), request)` and
waits for `(ref, reply)` or the monitor's `Down`. The monitor's ref is also
an *alias* of the caller, active while the monitor is, that is while the
caller waits: `reply` delivers only to an active alias, so a reply that
comes after a timeout is dropped, never left in the caller's mailbox
(Erlang's `alias` / `unalias`, which OTP's gen_server uses the same way).

The core (the node's "$inspect", `get_state`) calls with it, and the
behaviours (GenServer, GenStatem, Supervisor) answer with it: it knows
none of them.
"""

from __future__ import annotations

from typing import Any, Final, NamedTuple

from trio.lowlevel import current_task

from ._api import demonitor_from, monitor_process, resolve
from ._errors import CallExit, CallTimeout, NotInProcess, ReceiveTimeout
from ._ids import Down, Pid, Ref
from ._process import by_task, current, receive_answer
from ._wire import register_tag

__all__ = ["CALL", "CAST", "From", "Marker", "call", "cast", "reply"]


class Marker:
    """A unique constant, printed as its name; it travels between nodes by
    the wire tag its module registers for it."""

    __slots__ = ("_name",)

    def __init__(self, name: str) -> None:
        self._name = name

    def __repr__(self) -> str:
        return self._name


CALL: Final = Marker("$call")
CAST: Final = Marker("$cast")


class From(NamedTuple):
    """Who made a call: pass it to `reply`. `pid` is the caller."""

    pid: Pid
    ref: Ref


for _tag, _obj in (("From", From), ("gen_server.call", CALL), ("gen_server.cast", CAST)):
    register_tag(_tag, _obj)  # so they travel between nodes by these names

_new_tuple: Final = tuple.__new__  # makes a From without NamedTuple's slower __new__


def reply(from_: From, value: Any) -> None:
    """Answer the call `from_` (from any process). Dropped if the caller
    stopped waiting."""
    proc = from_.pid._proc
    if proc is None:
        return
    if proc.remote:  # the caller's node checks the alias on arrival
        # On the server's node the call's monitor ends with the reply, so the
        # caller need not send a demonitor back: one message less per call.
        monitors = proc._monitors
        target = monitors.pop(from_.ref, None) if monitors else None
        if target is not None and target._watchers:
            target._watchers.pop(from_.ref, None)
        proc.peer.control("reply", from_.pid, from_.ref, value, target is not None)
    elif proc._monitors and from_.ref in proc._monitors:
        proc.deliver((from_.ref, value))


async def call(dest: Pid | object, request: Any, timeout: float | None = 5.0) -> Any:
    """Send `request` to a server and wait for its reply.

    Raises `CallTimeout` after `timeout` seconds (None waits forever), and
    `CallExit(reason)` if the server dies first or does not exist.
    """
    try:
        task = current_task()
    except RuntimeError:
        raise NotInProcess("call") from None
    caller = by_task.get(task) or current("call")  # or the process of a helper task
    server = dest._proc if type(dest) is Pid else resolve(caller.node, dest)
    if server is caller:
        raise CallExit("calling_self")
    ref = Ref()
    local = server is not None and server.alive and not server.remote
    if local:  # monitor_process's local case, and add_monitor, inline
        monitors = caller._monitors
        if monitors is None:
            monitors = caller._monitors = {}
        watchers = server._watchers
        if watchers is None:
            watchers = server._watchers = {}
        monitors[ref] = server
        watchers[ref] = caller
    else:
        monitor_process(caller, server, dest, ref)
    try:
        if server is not None:
            server.deliver((CALL, _new_tuple(From, (caller.pid, ref)), request))
        try:
            answer = await receive_answer(caller, task, ref, timeout)
        except ReceiveTimeout:
            raise CallTimeout(f"no reply to {request!r} within {timeout} s") from None
    finally:
        monitors = caller._monitors
        if local and not caller._queue and monitors and monitors.pop(ref, None) is server:
            # demonitor_from's usual case, inline: the monitor on, nothing to flush
            watchers = server._watchers
            if watchers:  # None once the server has ended (the node closing)
                watchers.pop(ref, None)
        else:
            demonitor_from(caller, ref, flush=True)
    if type(answer) is Down:
        raise CallExit(answer.reason)
    return answer[1]


def cast(dest: Pid | object, msg: Any) -> None:
    """Send `msg` to a server's `handle_cast`; never fails, never blocks."""
    proc = dest._proc if type(dest) is Pid else resolve(current("cast").node, dest)
    if proc is not None:
        proc.deliver((CAST, msg))
