"""The node's "$inspect" system process, and `inspect`, which asks it.

Every node spawns "$inspect" when it starts, in a cluster or not, so that
an observer on any node (or on a hidden node attached for the purpose) can
ask any other for its figures, process rows, supervision trees, a stack, a
server's state, or to subscribe to its events or count runtime there. The
questions are ordinary calls to the name `("$inspect", node)`: they travel
as every message between nodes does, signed and checked. Answers are made
of builtins, Pids and strings (`wire_safe`), so they always decode.

"$inspect" is a system process: `actors.processes()` and
`actors.registered()` leave it out (and its helpers), so a program's own
view of its processes is what it started; `process_rows` shows it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, Final

from . import _introspect
from ._api import demonitor, monitor, process_info
from ._call import CALL, From, call, reply
from ._errors import CallExit, CallTimeout, RemoteError
from ._ids import Down, Pid, Ref
from ._observed import for_caller
from ._process import current, receive
from ._watch import watch

if TYPE_CHECKING:
    from ._node import Node

__all__ = ["INSPECT", "WHATS", "inspect", "start_inspector"]

logger = logging.getLogger("actors")

INSPECT: Final = "$inspect"

_SYNC: Final[dict[str, Callable[..., Any]]] = {
    "node_info": _introspect.node_info,
    "supervision_trees": _introspect.supervision_trees,
    "process_rows": _introspect.process_rows,
    "process_info": process_info,
    "process_stack": _introspect.process_stack,
    "process_messages": _introspect.process_messages,
    "probe": _introspect.probe,
    "subscribe": _introspect.subscribe,
    "unsubscribe": _introspect.unsubscribe,
}
WHATS: Final = frozenset(_SYNC) | {"get_state", "watch"}


def start_inspector(node: Node) -> None:
    """Spawn the node's "$inspect" (from `actors.node`, as it starts)."""
    proc = node.new_process(_inspector_main)
    proc.name = INSPECT
    node.names[INSPECT] = proc
    node.observed.system.add(proc)
    node.observed.inspector = proc
    node.start(proc, ())


async def inspect(node: str, what: str, *args: Any, timeout: float | None = 5.0) -> Any:
    """Run `what(*args)` on `node` through its "$inspect" (see
    actors.lowlevel); `CallTimeout` if that node does not answer."""
    if what not in WHATS:
        raise ValueError(f"inspect: unknown {what!r}; one of {', '.join(sorted(WHATS))}")
    me = current("actors.lowlevel.inspect")
    dest: object = INSPECT if node == me.node.name else (INSPECT, node)
    try:
        status, value = await call(dest, (INSPECT, what, args, timeout), timeout=timeout)
    except CallExit as exc:  # not up, not a node, or gone meanwhile
        raise CallTimeout(f"node {node!r} did not answer ({exc.reason!r})") from None
    if status == "error":
        raise value
    return value


async def _inspector_main() -> None:
    me = current(INSPECT)
    watching: dict[Pid, tuple[AbstractContextManager[None], Ref]] = {}
    subscribers: dict[Ref, Pid] = {}  # remote subscribers, forgotten when down
    try:
        while True:
            msg = await receive()
            try:
                if type(msg) is Down:
                    _down(me.node, msg, watching, subscribers)
                elif type(msg) is tuple and len(msg) == 3 and msg[0] is CALL:
                    _request(me.node, msg[1], msg[2], watching)
                elif (
                    type(msg) is tuple
                    and len(msg) == 2
                    and msg[0] == "$forget_when_down"
                    and type(msg[1]) is Pid
                    and msg[1] not in subscribers.values()
                ):
                    subscribers[monitor(msg[1])] = msg[1]
            except Exception:  # a node without "$inspect" cannot be looked at
                logger.exception("actors: %s could not handle %r", INSPECT, msg)
    finally:
        for counting, _ in watching.values():
            counting.__exit__(None, None, None)


def _down(
    node: Node,
    msg: Down,
    watching: dict[Pid, tuple[AbstractContextManager[None], Ref]],
    subscribers: dict[Ref, Pid],
) -> None:
    pid = subscribers.pop(msg.ref, None)
    if pid is not None:
        node.observed.unsubscribe(pid)
    entry = watching.get(msg.pid)
    if entry is not None and entry[1] == msg.ref:
        del watching[msg.pid]
        entry[0].__exit__(None, None, None)


def _request(
    node: Node,
    from_: From,
    request: Any,
    watching: dict[Pid, tuple[AbstractContextManager[None], Ref]],
) -> None:
    if not (type(request) is tuple and len(request) == 4 and request[0] == INSPECT):
        reply(from_, ("error", ValueError(f"{INSPECT} does not handle {request!r}")))
        return
    _, what, args, timeout = request
    if what == "get_state":
        helper = node.new_process(_answer_get_state)
        node.observed.system.add(helper)
        node.start(helper, (from_, args, timeout))
        return
    try:
        if what == "watch":
            (on,) = args
            _watch(from_.pid, bool(on), watching)
            result = None
        else:
            result = _SYNC[what](*args)
    except Exception as exc:
        _answer_error(from_, exc)
    else:
        reply(from_, ("ok", for_caller(from_.pid, result)))


def _watch(
    caller: Pid, on: bool, watching: dict[Pid, tuple[AbstractContextManager[None], Ref]]
) -> None:
    """One count of runtime watching per caller, ended with its process."""
    entry = watching.get(caller)
    if on and entry is None:
        counting = watch()
        counting.__enter__()
        watching[caller] = (counting, monitor(caller))
    elif not on and entry is not None:
        del watching[caller]
        demonitor(entry[1], flush=True)
        entry[0].__exit__(None, None, None)


async def _answer_get_state(from_: From, args: tuple[Any, ...], timeout: float | None) -> None:
    """A helper of "$inspect": a server may take a while to answer, and
    "$inspect" answers everyone else meanwhile."""
    try:
        (pid,) = args
        inner = None if timeout is None else timeout * 0.8  # its error comes back in time
        state = await _introspect.get_state(pid, timeout=inner)
    except Exception as exc:
        _answer_error(from_, exc)
    else:
        reply(from_, ("ok", for_caller(from_.pid, state)))


def _answer_error(from_: From, exc: Exception) -> None:
    """Raise `exc` at the caller: for one on another node, an exception of
    builtins or of actors as itself (its arguments made safe), any other
    as RemoteError naming its class."""
    proc = from_.pid._proc
    if proc is not None and proc.remote:
        if type(exc).__module__ in ("builtins", "actors._errors"):
            from ._observed import wire_safe

            try:
                exc = type(exc)(*wire_safe(exc.args))
            except Exception:
                exc = RemoteError(type(exc).__qualname__, str(exc))
        else:
            exc = RemoteError(f"{type(exc).__module__}.{type(exc).__qualname__}", str(exc))
    reply(from_, ("error", exc))
