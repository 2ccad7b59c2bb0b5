"""What a node keeps so that it can be looked at (actors.lowlevel's
introspection, the observer page): its system processes, the state objects
of its servers, the counters and tables upper layers register, and the
subscribers to its exit and restart events. Also the values upper layers
keep per node (`NodeVar`, `_system.py`): they die with the node.

All of it costs nothing per message: a node only writes here when a server
starts, a process ends, a supervisor restarts a child, or someone
subscribes. Events go to subscribers as plain messages, and a subscriber
that does not keep up misses events rather than growing its mailbox
without end (`MAX_BEHIND`).
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Iterable
from functools import partial
from itertools import islice
from typing import TYPE_CHECKING, Any, Final

from ._ids import Pid, Ref
from ._reasons import is_normal_exit

if TYPE_CHECKING:
    from ._process import Process

__all__ = ["MAX_BEHIND", "Observed", "describe", "for_caller", "wire_safe"]

logger = logging.getLogger("actors")

MAX_BEHIND: Final = 10_000
"""A local subscriber whose mailbox holds more messages than this misses
events (counted, logged once) until it catches up."""

_DESCRIBE_MAX: Final = 2000


def describe(value: Any, limit: int = _DESCRIBE_MAX) -> str:
    """`repr(value)`, cut to `limit` characters: an exit reason as it
    travels in events and rows, a message or a state as a page shows it
    (never the object itself).

    Unlike `repr`, a `functools.partial`, a child spec and a supervisor's
    record of a child are named by their function alone, never shown with
    their arguments, and so they are inside tuples, lists, dicts, sets,
    named tuples and exceptions: arguments are the user's, may be secrets
    (an observer's kill token), and a page shows this text to whoever
    opens it. A class may choose what of it is shown with a method
    `__describe__(self)` yielding text, or 1-tuples of a value to describe
    in turn (a child spec does). Any other object is its own `repr`."""
    out = _Text(limit)
    _describe(value, out, 0)
    return out.text()


class _Text:
    """Text made piece by piece, that stops growing past its limit."""

    __slots__ = ("left", "limit", "parts")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.left = limit + 1  # one more: a text cut says so
        self.parts: list[str] = []

    def add(self, piece: str) -> None:
        if self.left > 0:
            self.parts.append(piece[: self.left])
            self.left -= len(piece)

    def text(self) -> str:
        text = "".join(self.parts)
        return text if len(text) <= self.limit else text[: max(0, self.limit - 3)] + "..."


def function_name(fn: Any) -> str:
    """ "module.qualname" of a callable; a partial is named by what it wraps."""
    return _function_name(fn)


def _function_name(fn: Any) -> str:
    while isinstance(fn, partial):
        fn = fn.func
    name = getattr(fn, "__qualname__", None) or type(fn).__qualname__
    return f"{getattr(fn, '__module__', '?')}.{name}"


def _items(items: Iterable[Any], out: _Text, depth: int) -> None:
    for i, item in enumerate(items):
        if out.left <= 0:
            return
        if i:
            out.add(", ")
        _describe(item, out, depth)


def _pairs(pairs: Iterable[tuple[Any, Any]], out: _Text, depth: int, between: str) -> None:
    """`name=value, ...` (a named tuple's; names are str) or `key: value, ...`."""
    for i, (key, item) in enumerate(pairs):
        if out.left <= 0:
            return
        if i:
            out.add(", ")
        if between == "=":
            out.add(key)
        else:
            _describe(key, out, depth)
        out.add(between)
        _describe(item, out, depth)


def _default_repr(kind: type) -> bool:
    """Whether an exception class shows itself as BaseException does,
    `Name(arg, ...)`, which `describe` can then make of its arguments."""
    return getattr(kind, "__repr__", None) is BaseException.__repr__


def _describe(value: Any, out: _Text, depth: int) -> None:
    kind = type(value)
    if kind in _PLAIN or kind is Pid or kind is Ref:
        out.add(repr(value))
        return
    if depth >= _MAX_DEPTH:
        out.add("...")
        return
    depth += 1
    own = getattr(kind, "__describe__", None)
    if own is not None:  # a class that knows what of it may be shown (a child spec)
        for part in own(value):
            if type(part) is str:
                out.add(part)
            else:
                _describe(part[0], out, depth)
    elif isinstance(value, partial):
        out.add(f"partial({_function_name(value)}, ...)")
    elif kind is list:
        out.add("[")
        _items(value, out, depth)
        out.add("]")
    elif kind is tuple:
        out.add("(")
        _items(value, out, depth)
        out.add(",)" if len(value) == 1 else ")")
    elif isinstance(value, tuple) and hasattr(value, "_fields"):  # a named tuple: Exit, Down
        out.add(f"{kind.__name__}(")
        _pairs(zip(value._fields, value, strict=False), out, depth, "=")
        out.add(")")
    elif kind is dict:
        out.add("{")
        _pairs(((key, item) for key, item in value.items()), out, depth, ": ")
        out.add("}")
    elif kind is set or kind is frozenset:
        if not value:
            out.add(f"{kind.__name__}()")
            return
        out.add("{" if kind is set else "frozenset({")
        _items(value, out, depth)
        out.add("}" if kind is set else "})")
    elif kind is deque:
        out.add("deque([")
        _items(value, out, depth)
        out.add("])")
    elif isinstance(value, BaseException) and _default_repr(kind):
        out.add(f"{kind.__name__}(")
        _items(value.args, out, depth)
        out.add(")")
    else:
        out.add(repr(value))


class Observed:
    """The introspection side of one node."""

    __slots__ = (
        "delivered_dead",
        "inspector",
        "probes",
        "servers",
        "started",
        "stats",
        "subscribers",
        "system",
        "values",
    )

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.delivered_dead = 0  # messages delivered to processes that have ended
        # GenServer / GenStatem / Supervisor processes -> their state object
        # (the server instance, or a GenStatem's engine), for kind and get_state.
        self.servers: dict[Process, Any] = {}
        # The node's own processes ("$inspect", spawn_system's), and those an
        # upper layer marked as its own (`mark_system`): hidden from `processes()`.
        self.system: set[Process] = set()
        self.inspector: Process | None = None
        self.stats: dict[str, Callable[[], int]] = {}
        self.probes: dict[str, Callable[[], list[dict[str, Any]]]] = {}
        self.subscribers: dict[Pid, int] = {}  # pid -> events it missed
        self.values: dict[object, Any] = {}  # NodeVar -> its value on this node

    # -- a process ended --------------------------------------------------------

    def exited(self, proc: Process, reason: Any, closing: bool) -> None:
        """Bookkeeping at a process's end (from `Node.exited`)."""
        self.delivered_dead += proc.received
        system = proc in self.system
        self.system.discard(proc)
        if self.servers:
            self.servers.pop(proc, None)
        if self.subscribers:
            self.subscribers.pop(proc.pid, None)
            if not closing and not is_normal_exit(reason):
                info = {"pid": proc.pid, "reason": describe(reason), "system": system}
                self.emit("exit", info)

    # -- events -------------------------------------------------------------------

    def subscribe(self, pid: Pid) -> None:
        self.subscribers.setdefault(pid, 0)

    def unsubscribe(self, pid: Pid) -> None:
        self.subscribers.pop(pid, None)

    def emit(self, kind: str, info: dict[str, Any]) -> None:
        """Send `("actors_event", kind, info)` to every subscriber."""
        if not self.subscribers:
            return
        msg = ("actors_event", kind, info)
        gone = []
        for pid, missed in self.subscribers.items():
            target = pid._proc
            if target is None or not target.alive:
                gone.append(pid)
                continue
            if not target.remote and target.mailbox_len() > MAX_BEHIND:
                if not missed:
                    logger.warning(
                        "actors: subscriber %r has more than %d messages waiting; "
                        "it misses events until it catches up",
                        pid,
                        MAX_BEHIND,
                    )
                self.subscribers[pid] = missed + 1
                continue
            target.deliver(msg)
        for pid in gone:
            del self.subscribers[pid]

    def missed(self, pid: Pid) -> int:
        """How many events `pid` missed because it was behind."""
        return self.subscribers.get(pid, 0)


_PLAIN: Final = frozenset({type(None), bool, int, float, complex, str, bytes})
_MAX_DEPTH: Final = 8
_MAX_ITEMS: Final = 1000


def wire_safe(value: Any, depth: int = 0) -> Any:
    """`value` as something that travels between nodes whatever the other
    node allows: builtins, containers of them, Pids and Refs; anything else
    as its `describe` string. Containers past `_MAX_ITEMS` items or nested
    deeper than `_MAX_DEPTH` are cut (a page shows them, nobody computes
    with them)."""
    kind = type(value)
    if kind in _PLAIN or kind is Pid or kind is Ref:
        return value
    if depth >= _MAX_DEPTH:
        return describe(value)
    depth += 1
    if kind is dict:
        return {
            wire_safe(k, depth): wire_safe(v, depth) for k, v in islice(value.items(), _MAX_ITEMS)
        }
    if kind is list or kind is tuple:
        items = [wire_safe(v, depth) for v in islice(value, _MAX_ITEMS)]
        return items if kind is list else tuple(items)
    if kind is set or kind is frozenset:
        return kind(wire_safe(v, depth) for v in islice(value, _MAX_ITEMS))
    return describe(value)


def for_caller(caller: Pid, value: Any) -> Any:
    """A reply to `caller`: as it is for a local process, `wire_safe` for
    one on another node."""
    proc = caller._proc
    return wire_safe(value) if proc is not None and proc.remote else value
