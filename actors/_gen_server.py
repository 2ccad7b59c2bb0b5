"""GenServer: OTP's gen_server behaviour, and `call` / `cast` / `reply`.

A call monitors the server, sends `(CALL, From(caller, ref), request)` and
waits for `(ref, reply)` or the monitor's `Down`. The monitor's ref is also
an *alias* of the caller, active while the monitor is, that is while the
caller waits: `reply` delivers only to an active alias, so a reply that
comes after a timeout is dropped, never left in the caller's mailbox
(Erlang's `alias` / `unalias`, which OTP's gen_server uses the same way).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, ClassVar, Final, NamedTuple

from ._api import demonitor_from, monitor_process, resolve
from ._errors import CallExit, CallTimeout, ReceiveTimeout
from ._ids import Down, Exit, Pid, Ref
from ._observed import for_caller
from ._process import RUNNING, current, receive
from ._start import Starter, start_process, starter
from ._wire import register_tag

__all__ = ["NOREPLY", "From", "GenServer", "Stop", "call", "cast", "reply"]


class _Marker:
    """A unique constant. `attr` is its name in this module, so that it
    travels to another node as itself (pickle by reference)."""

    __slots__ = ("_attr", "_name")

    def __init__(self, name: str, attr: str) -> None:
        self._name = name
        self._attr = attr

    def __repr__(self) -> str:
        return self._name

    def __reduce__(self) -> str:
        return self._attr


NOREPLY: Final[Any] = _Marker("NOREPLY", "NOREPLY")
"""Returned by `handle_call` to answer later with `reply(from_, value)`."""

_CALL: Final = _Marker("$call", "_CALL")
_CAST: Final = _Marker("$cast", "_CAST")
_NOTHING: Final = _Marker("<no reply>", "_NOTHING")
_GET_STATE: Final = _Marker("$get_state", "_GET_STATE")
"""A call's request that the server's loop answers itself (OTP's
sys:get_state): no callback runs (`actors.get_state`)."""


class From(NamedTuple):
    """Who made a call: pass it to `reply`. `pid` is the caller."""

    pid: Pid
    ref: Ref


class Stop:
    """Returned by a callback to stop the server with `reason`.

    From `handle_call`, `reply=` is sent to the caller before the server stops.
    """

    __slots__ = ("reason", "reply")

    def __init__(self, reason: Any = "normal", *, reply: Any = _NOTHING) -> None:
        self.reason = reason
        self.reply = reply

    def __repr__(self) -> str:
        return f"Stop({self.reason!r})"


for _tag, _obj in (
    ("From", From),
    ("gen_server.call", _CALL),
    ("gen_server.cast", _CAST),
    ("gen_server.noreply", NOREPLY),
    ("gen_server.get_state", _GET_STATE),
):
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
    caller = current("call")
    server = dest._proc if type(dest) is Pid else resolve(caller.node, dest)
    if server is caller:
        raise CallExit("calling_self")
    ref = monitor_process(caller, server, dest)  # `server` looked up once

    def answered(msg: Any) -> bool:
        kind = type(msg)
        return (kind is tuple and len(msg) == 2 and msg[0] is ref) or (
            kind is Down and msg.ref is ref
        )

    try:
        if server is not None:
            server.deliver((_CALL, _new_tuple(From, (caller.pid, ref)), request))
        try:
            answer = await receive(answered, timeout=timeout)
        except ReceiveTimeout:
            raise CallTimeout(f"no reply to {request!r} within {timeout} s") from None
    finally:
        demonitor_from(caller, ref, flush=True)
    if type(answer) is Down:
        raise CallExit(answer.reason)
    return answer[1]


def cast(dest: Pid | object, msg: Any) -> None:
    """Send `msg` to a server's `handle_cast`; never fails, never blocks."""
    proc = dest._proc if type(dest) is Pid else resolve(current("cast").node, dest)
    if proc is not None:
        proc.deliver((_CAST, msg))


class GenServer:
    """Base class of a server process; override the callbacks you need.

    Callbacks may be `async def` or plain `def`. State lives on `self`.

    - `init(*args)`: runs first, in the new process, while its starter
      waits; an exception ends it.
    - `handle_call(request, from_)`: its return value is the reply; return
      `NOREPLY` to answer later with `reply(from_, value)`.
    - `handle_cast(msg)`, `handle_info(msg)`: casts, and every other message.
    - `terminate(reason)`: runs before the server stops because a callback
      returned `Stop` or raised, or because its parent (the process that
      called `start_link`) exited while the server traps exits.

    `await Cls.start(*args)` / `await Cls.start_link(*args)` return the
    Pid once `init` has returned; an `init` that raises or returns
    `Stop(reason)` makes them raise `StartError`. Any callback may return
    `Stop(reason)`. Set the class attribute `trap_exits = True` for a
    server that traps exits from its first instant, before `init` runs.
    """

    trap_exits: ClassVar[bool] = False

    # `init(self, *args)` is optional and not declared here: its arguments are
    # the subclass's own, and type checkers would flag any narrower override.

    def handle_call(self, request: Any, from_: From) -> Any:
        name = type(self).__name__
        raise NotImplementedError(f"{name} got a call it does not handle: {request!r}")

    def handle_cast(self, msg: Any) -> Any:
        return None

    def handle_info(self, msg: Any) -> Any:
        return None

    def terminate(self, reason: Any) -> Any:
        return None

    @classmethod
    @starter
    async def start(cls, *args: Any, name: object = None) -> Pid:
        """Start the server as a new process; return its Pid once `init`
        has returned. `StartError(reason)` if `init` raised or stopped."""
        return await _start(cls, args, name, link=False)

    @classmethod
    @starter
    async def start_link(cls, *args: Any, name: object = None) -> Pid:
        """`start`, linked to the caller, which becomes the server's parent.
        A failed start raises `StartError` and does not kill the caller."""
        return await _start(cls, args, name, link=True)


async def _start(cls: type[GenServer], args: tuple[Any, ...], name: object, link: bool) -> Pid:
    if args and not hasattr(cls, "init"):
        raise TypeError(f"{cls.__name__} has no init() to take its start arguments {args!r}")
    what = f"{cls.__name__}.start_link" if link else f"{cls.__name__}.start"
    return await start_process(
        what, _serve, (cls, args), name=name, link=link, trap_exits=cls.trap_exits
    )


def server_state(server: GenServer) -> dict[str, Any]:
    """What `get_state` answers for a GenServer: a shallow copy of its
    attributes that do not start with "_"."""
    names = list(getattr(server, "__dict__", ()))
    for cls in type(server).__mro__:  # a server class may use __slots__
        slots = getattr(cls, "__slots__", ())
        names += [slots] if isinstance(slots, str) else slots
    return {
        name: getattr(server, name)
        for name in dict.fromkeys(names)
        if not name.startswith("_") and hasattr(server, name)
    }


def _bound(server: GenServer, name: str) -> tuple[Callable[..., Any], bool]:
    """The callback `name` of `server`, and whether it must be awaited."""
    callback = getattr(server, name)
    return callback, inspect.iscoroutinefunction(callback)


async def _serve(cls: type[GenServer], args: tuple[Any, ...], starter: Starter) -> None:
    """The body of every GenServer process."""
    me = current("start")
    server = cls()
    me.node.observed.servers[me] = server
    result = None
    try:
        if hasattr(server, "init"):
            init, init_async = _bound(server, "init")
            result = init(*args)
            if init_async:
                result = await result
    except Exception as exc:
        starter.failed(exc)
        raise
    if type(result) is Stop:
        starter.failed(result.reason)
        me.die(result.reason)
    starter.started()
    parent = starter.parent
    handle_call, call_async = _bound(server, "handle_call")
    handle_cast, cast_async = _bound(server, "handle_cast")
    handle_info, info_async = _bound(server, "handle_info")
    terminate, terminate_async = _bound(server, "terminate")
    caller: From | None = None  # who gets Stop's reply
    try:
        while True:
            msg = await receive()
            if type(msg) is tuple and len(msg) == 3 and msg[0] is _CALL:
                from_ = msg[1]
                if msg[2] is _GET_STATE:  # a system message: between two callbacks
                    reply(from_, for_caller(from_.pid, server_state(server)))
                    continue
                result = handle_call(msg[2], from_)
                if call_async:
                    result = await result
                if type(result) is not Stop:
                    if result is not NOREPLY:
                        reply(from_, result)
                    continue
                caller = from_
            elif type(msg) is tuple and len(msg) == 2 and msg[0] is _CAST:
                result = handle_cast(msg[1])
                if cast_async:
                    result = await result
            elif type(msg) is Exit and msg.pid == parent:
                result = Stop(msg.reason)
            else:
                result = handle_info(msg)
                if info_async:
                    result = await result
            if type(result) is Stop:
                break
    except Exception as exc:
        if me.reason is RUNNING:  # not after an exit signal: that one wins
            done = terminate(exc)
            if terminate_async:
                await done
        raise
    # Stop: terminate first, then the reply (as OTP does), then the exit.
    try:
        if me.reason is RUNNING:
            done = terminate(result.reason)
            if terminate_async:
                await done
    finally:
        if caller is not None and result.reply is not _NOTHING:
            reply(caller, result.reply)
    me.die(result.reason)
