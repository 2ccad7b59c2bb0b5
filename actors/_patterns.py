"""Selective-receive patterns: what `receive(*patterns)` accepts.

A pattern is `ANY`, a type (isinstance), a tuple of sub-patterns (same length,
element-wise; a NamedTuple pattern also requires its own class), a callable
predicate, or any other value compared with `==`.
"""

from __future__ import annotations

from types import FunctionType
from typing import Any, Final

__all__ = ["ANY", "matches", "matches_any"]


class _Any:
    __slots__ = ()

    def __repr__(self) -> str:
        return "ANY"

    def __reduce__(self) -> str:
        return "ANY"


ANY: Final[Any] = _Any()


def matches(pattern: object, msg: object) -> bool:
    """True if `msg` matches `pattern`."""
    ptype = type(pattern)
    if ptype is FunctionType:  # first: gen_server's call waits with one
        return bool(pattern(msg))  # type: ignore[operator]
    if pattern is ANY:
        return True
    if ptype is str or ptype is int or ptype is bytes:
        return pattern == msg
    if isinstance(pattern, tuple):
        if not isinstance(msg, tuple) or len(msg) != len(pattern):
            return False
        if ptype is not tuple and not isinstance(msg, ptype):
            return False
        for sub, item in zip(pattern, msg, strict=True):
            if not matches(sub, item):
                return False
        return True
    if isinstance(pattern, type):
        return isinstance(msg, pattern)
    if callable(pattern):
        return bool(pattern(msg))
    return bool(pattern == msg)


def matches_any(patterns: tuple[object, ...], msg: object) -> bool:
    """True if `msg` matches at least one of `patterns`."""
    for pattern in patterns:
        if matches(pattern, msg):
            return True
    return False
