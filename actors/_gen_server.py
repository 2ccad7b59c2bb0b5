"""GenServer: OTP's gen_server behaviour.

Its process answers calls and casts (`actors._call`, which it re-exports)
with the callbacks of a subclass; between two callbacks it answers the
system request of `get_state` itself (`actors._sys`), running none.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, ClassVar, Final

from ._call import CALL, CAST, From, Marker, call, cast, reply
from ._ids import Exit, Pid
from ._observed import for_caller
from ._process import RUNNING, current, receive
from ._start import Starter, start_process, starter
from ._sys import GET_STATE, ServerView, View, set_view
from ._wire import register_tag

__all__ = ["NOREPLY", "From", "GenServer", "Stop", "call", "cast", "reply"]
# (From, call, cast and reply live in actors._call; they are GenServer's API too.)


NOREPLY: Final[Any] = Marker("NOREPLY")
"""Returned by `handle_call` to answer later with `reply(from_, value)`."""

_NOTHING: Final = Marker("<no reply>")


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


register_tag("gen_server.noreply", NOREPLY)  # so it travels between nodes by this name


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
    def _sys_view(cls, server: GenServer) -> View:
        """How a process of this class shows to introspection (a behaviour
        built on GenServer, such as Supervisor, shows as itself)."""
        return ServerView(server, "gen_server")

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
    set_view(me, cls._sys_view(server))
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
            if type(msg) is tuple and len(msg) == 3 and msg[0] is CALL:
                from_ = msg[1]
                if msg[2] is GET_STATE:  # a system message: between two callbacks
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
            elif type(msg) is tuple and len(msg) == 2 and msg[0] is CAST:
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
