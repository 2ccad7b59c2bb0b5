"""Process identifiers, monitor references and the two system messages.

A `Pid` is what user code holds for a process: opaque, hashable, printed the
way Erlang prints it. It keeps a direct reference to its process so that
`send` costs one attribute load, not a table lookup.
"""

from __future__ import annotations

from itertools import count
from typing import TYPE_CHECKING, Any, NamedTuple
from weakref import WeakValueDictionary

if TYPE_CHECKING:
    from ._process import Process

__all__ = ["Down", "Exit", "Pid", "Ref"]


class Pid:
    """The identity of one process: printed `<node.number.0>`, like Erlang's.

    As in Erlang, a Pid also carries the *creation* of its node, not printed,
    so that Pids of two nodes that lived one after the other never compare
    equal.
    """

    __slots__ = ("_creation", "_node", "_number", "_proc")

    def __init__(self, node: int, number: int, proc: Process | None, creation: int) -> None:
        self._node = node
        self._number = number
        self._proc = proc
        self._creation = creation

    def __repr__(self) -> str:
        return f"<{self._node}.{self._number}.0>"

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


_ref_numbers = count(1)
_refs_by_number: WeakValueDictionary[int, Ref] = WeakValueDictionary()


class Ref:
    """A unique reference (for monitors and calls), printed `#Ref<0.N>`.

    Equal only to itself, so hashing and comparing cost what an object's
    identity costs; unpickling returns the same object while it lives. Its
    number is drawn the first time it is printed or pickled: most refs (a
    call's) never are, and making one is then just an allocation.
    """

    __slots__ = ("__weakref__", "_number")

    @property
    def number(self) -> int:
        try:
            return self._number
        except AttributeError:
            self._number: int = next(_ref_numbers)
            return self._number

    def __repr__(self) -> str:
        return f"#Ref<0.{self.number}>"

    def __reduce__(self) -> tuple[Any, ...]:
        number = self.number
        _refs_by_number[number] = self
        return (_ref_from_number, (number,))


def _ref_from_number(number: int) -> Ref:
    ref = _refs_by_number.get(number)
    if ref is None:
        ref = Ref()
        ref._number = number
        _refs_by_number[number] = ref
    return ref


class Exit(NamedTuple):
    """An exit signal turned into a message, for a process that traps exits."""

    pid: Pid
    reason: Any


class Down(NamedTuple):
    """What a monitor delivers when the watched process ends.

    `pid` is the watched Pid, or the name that was monitored if no process
    held it ("noproc").
    """

    ref: Ref
    pid: Pid | Any
    reason: Any
