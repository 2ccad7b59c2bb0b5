"""Process identifiers, monitor references and the two system messages.

A `Pid` is what user code holds for a process: opaque, hashable, printed the
way Erlang prints it. It keeps a direct reference to its process so that
`send` costs one attribute load, not a table lookup.
"""

from __future__ import annotations

import os
from itertools import count
from typing import Any, Final, NamedTuple
from weakref import WeakValueDictionary

__all__ = ["Down", "Exit", "NodeDown", "Pid", "Ref"]


class Pid:
    """The identity of one process: printed `<0.number.0>` (or `<N.number.0>`
    for a process of another node), like Erlang's.

    As in Erlang, a Pid also carries its node's name and *creation*, so that
    Pids of two nodes, or of one node name that lived twice, never compare
    equal. `_proc` is the process itself when it is local, a proxy that
    forwards to its node when it is remote, and None when it is gone.
    """

    __slots__ = ("_creation", "_node", "_number", "_proc")

    def __init__(self, node: str, number: int, proc: Any, creation: int) -> None:
        self._node = node
        self._number = number
        self._proc = proc
        self._creation = creation

    @property
    def node(self) -> str:
        """The name of the node this process lives on."""
        return self._node

    def __repr__(self) -> str:
        proc = self._proc
        remote = proc is not None and getattr(proc, "remote", False)
        index = node_index(self._node) if remote else 0
        return f"<{index}.{self._number}.0>"

    def __eq__(self, other: object) -> bool:
        if type(other) is not Pid:
            return NotImplemented
        return (
            self._number == other._number
            and self._creation == other._creation
            and self._node == other._node
        )

    def __hash__(self) -> int:
        return hash((self._number, self._creation))

    def __lt__(self, other: Pid) -> bool:
        return (self._node, self._creation, self._number) < (
            other._node,
            other._creation,
            other._number,
        )

    def __reduce__(self) -> tuple[Any, ...]:
        # A Pid pickles as its identity only; the process reference is local.
        return (Pid, (self._node, self._number, None, self._creation))


_node_indexes: dict[str, int] = {}


def node_index(name: str) -> int:
    """The number a remote node's Pids print with: 1, 2, ... in the order
    this OS process first printed one (Erlang numbers them likewise)."""
    index = _node_indexes.get(name)
    if index is None:
        index = _node_indexes[name] = len(_node_indexes) + 1
    return index


_ref_numbers = count(1)
_ORIGIN: Final = os.urandom(8).hex()  # this OS process, in the refs it sends
_local_refs: WeakValueDictionary[int, Ref] = WeakValueDictionary()
_remote_refs: WeakValueDictionary[tuple[str, int], Ref] = WeakValueDictionary()


class Ref:
    """A unique reference (for monitors and calls), printed `#Ref<0.N>`.

    Equal only to itself, so hashing and comparing cost what an object's
    identity costs; a ref that travels (pickled, or to another node) and
    comes back is the same object while it lives. Its number is drawn the
    first time it is printed or pickled: most refs (a call's) never are,
    and making one is then just an allocation.
    """

    __slots__ = ("__weakref__", "_number", "_origin")
    _origin: str

    @property
    def number(self) -> int:
        try:
            return self._number
        except AttributeError:
            self._number: int = next(_ref_numbers)
            return self._number

    def __repr__(self) -> str:
        origin = getattr(self, "_origin", None)
        return f"#Ref<{0 if origin is None else origin[:6]}.{self.number}>"

    def __reduce__(self) -> tuple[Any, ...]:
        number = self.number
        origin = getattr(self, "_origin", None)
        if origin is None:
            _local_refs[number] = self
            origin = _ORIGIN
        return (_ref_from_wire, (origin, number))


def _ref_from_wire(origin: str, number: int) -> Ref:
    """The Ref that (origin, number) names: ours if we made it."""
    if origin == _ORIGIN:
        ref = _local_refs.get(number)
        if ref is None:
            ref = Ref()
            ref._number = number
            _local_refs[number] = ref
        return ref
    key = (origin, number)
    ref = _remote_refs.get(key)
    if ref is None:
        ref = Ref()
        ref._number = number
        ref._origin = origin
        _remote_refs[key] = ref
    return ref


class Exit(NamedTuple):
    """An exit signal turned into a message, for a process that traps exits."""

    pid: Pid
    reason: Any


class NodeDown(NamedTuple):
    """What `monitor_node(name)` delivers when that node goes down."""

    node: str


class Down(NamedTuple):
    """What a monitor delivers when the watched process ends.

    `pid` is the watched Pid, or the name that was monitored if no process
    held it ("noproc").
    """

    ref: Ref
    pid: Pid | Any
    reason: Any
