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
from collections.abc import Callable
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


def describe(value: Any) -> str:
    """`repr(value)`, cut to a length a page can show: an exit reason as
    it travels in events and rows (never the exception object itself)."""
    text = repr(value)
    if len(text) > _DESCRIBE_MAX:
        text = text[: _DESCRIBE_MAX - 3] + "..."
    return text


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
        self.system: set[Process] = set()  # "$inspect", and spawn_system's
        self.inspector: Process | None = None
        self.stats: dict[str, Callable[[], int]] = {}
        self.probes: dict[str, Callable[[], list[dict[str, Any]]]] = {}
        self.subscribers: dict[Pid, int] = {}  # pid -> events it missed
        self.values: dict[object, Any] = {}  # NodeVar -> its value on this node

    # -- a process ended --------------------------------------------------------

    def exited(self, proc: Process, reason: Any, closing: bool) -> None:
        """Bookkeeping at a process's end (from `Node.exited`)."""
        self.delivered_dead += proc.received
        self.system.discard(proc)
        if self.servers:
            self.servers.pop(proc, None)
        if self.subscribers:
            self.subscribers.pop(proc.pid, None)
            if not closing and not is_normal_exit(reason):
                self.emit("exit", {"pid": proc.pid, "reason": describe(reason)})

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
