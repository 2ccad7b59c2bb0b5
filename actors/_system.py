"""System processes, and values kept per node: what a layer above needs
to run a service of the node's own (the WebSocket poller) beside the
user's processes.

A system process is an ordinary process in all but how it is seen:
`actors.processes()` and `actors.registered()` leave it out, so that a
program's view of its processes is what it started, and its row in
`process_rows` says `"system": True`, so that the observer hides it by
default and refuses to kill it. The node's "$inspect" is one. Whatever
ends a process still ends it (`exit`, a link, a crash): keeping the
service running is the job of the layer that started it, which knows
what a restart must carry over.

A `NodeVar` holds one value per node, as `trio.lowlevel.RunVar` holds one
per run: such a service's state lives and dies with its node, not in a
module-level dict keyed by Pids, which a node that ended would leave
behind and which its restarted process would not find.
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar, overload

from ._api import AsyncFn, spawn_as
from ._ids import Pid
from ._process import current

__all__ = ["NodeVar", "spawn_system"]

T = TypeVar("T")
D = TypeVar("D")


def spawn_system(
    fn: AsyncFn, *args: Any, name: object = None, link: bool = False, trap_exits: bool = False
) -> Pid:
    """`spawn`, of a system process of the caller's node (see the module
    docstring); the options are `spawn`'s."""
    return spawn_as("actors.lowlevel.spawn_system", fn, args, name, link, trap_exits, system=True)


_MISSING: Any = object()


class NodeVar(Generic[T]):
    """One value per node, read and set from any of its processes."""

    __slots__ = ("_name",)

    def __init__(self, name: str) -> None:
        self._name = name

    def __repr__(self) -> str:
        return f"<NodeVar {self._name}>"

    @overload
    def get(self) -> T: ...

    @overload
    def get(self, default: D) -> T | D: ...

    def get(self, default: Any = _MISSING) -> Any:
        """The value on the caller's node; `default`, or LookupError, if
        none was set there."""
        values = current("actors.lowlevel.NodeVar.get").node.observed.values
        value = values.get(self, default)
        if value is _MISSING:
            raise LookupError(f"{self!r} has no value on this node")
        return value

    def set(self, value: T) -> None:
        """Set the value on the caller's node, for as long as it runs."""
        current("actors.lowlevel.NodeVar.set").node.observed.values[self] = value

    def setdefault(self, value: T) -> T:
        """The value on the caller's node; `value`, set there first, if it
        had none (as `dict.setdefault`: a layer's table, one per node)."""
        values = current("actors.lowlevel.NodeVar.setdefault").node.observed.values
        found: T = values.setdefault(self, value)
        return found
