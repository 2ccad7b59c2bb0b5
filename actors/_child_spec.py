"""Child specifications: what a supervisor starts, and how it restarts and
stops it. Validated when made, so a bad spec fails where it is written."""

from __future__ import annotations

import functools
import inspect
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

from ._observed import function_name
from ._start import is_starter

__all__ = ["ChildInfo", "ChildSpec", "child"]

Restart = Literal["permanent", "transient", "temporary"]
Kind = Literal["worker", "supervisor"]
_RESTARTS = ("permanent", "transient", "temporary")


@dataclass(frozen=True)
class ChildSpec:
    """One child of a supervisor. Make it with `child(...)`."""

    start: Callable[..., Any]
    args: tuple[Any, ...]
    id: object
    restart: Restart
    shutdown: float | Literal["brutal_kill"]
    type: Kind

    def __describe__(self) -> Iterator[str | tuple[Any]]:
        """What a page may show of it (actors.lowlevel.describe): its
        function's name, never its arguments, which may be secrets."""
        yield f"child({function_name(self.start)}, id="
        yield (self.id,)
        yield f", restart={self.restart!r}, type={self.type!r})"

    @property
    def is_starter(self) -> bool:
        """Whether `start` is marked a starter (`actors.starter`): the
        supervisor awaits it for the child's Pid."""
        return is_starter(self.start)

    @property
    def is_body(self) -> bool:
        """Whether `start` is an async function run as the child's body
        (rather than one that returns the child's Pid)."""
        return inspect.iscoroutinefunction(self.start) and not self.is_starter


class ChildInfo(NamedTuple):
    """A row of `which_children`: `pid` is None when the child is not running."""

    id: object
    pid: Any
    type: Kind


def child(
    start: Callable[..., Any],
    *args: Any,
    id: object = None,  # noqa: A002 - OTP's name for it
    restart: Restart = "permanent",
    shutdown: float | str | None = None,
    type: Kind | None = None,  # noqa: A002 - OTP's name for it
) -> ChildSpec:
    """Describe a child. `start(*args)` is one of: a starter, awaited for
    the Pid of a started, linked process (`MyServer.start_link`,
    `Supervisor.start_link`, or an async function marked `@actors.starter`);
    an async function, run as the child's body; or a plain function that
    returns a Pid or None (`httpserver.start_link`). Use functools.partial
    for keyword arguments.

    `restart`: "permanent" (always), "transient" (unless it ends "normal",
    "shutdown" or ("shutdown", anything)), "temporary" (never).
    `shutdown`: "brutal_kill", seconds to wait after the exit signal
    "shutdown" before killing, or "infinity" (the default for supervisors;
    5 s for workers).
    """
    if not callable(start):
        raise TypeError(f"child start must be callable, not {start!r}")
    if restart not in _RESTARTS:
        raise ValueError(f"restart must be one of {', '.join(_RESTARTS)}; got {restart!r}")
    kind: Kind = type or ("supervisor" if _starts_a_supervisor(start) else "worker")
    if kind not in ("worker", "supervisor"):
        raise ValueError(f"type must be 'worker' or 'supervisor'; got {type!r}")
    return ChildSpec(
        start=start,
        args=args,
        id=_default_id(start) if id is None else id,
        restart=restart,
        shutdown=_shutdown(shutdown, kind),
        type=kind,
    )


def _shutdown(value: float | str | None, kind: Kind) -> float | Literal["brutal_kill"]:
    if value is None:
        return math.inf if kind == "supervisor" else 5.0
    if value == "brutal_kill":
        return "brutal_kill"
    if value == "infinity":
        return math.inf
    if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
        return float(value)
    raise ValueError(f"shutdown must be 'brutal_kill', 'infinity' or seconds >= 0; got {value!r}")


def _unwrap(start: Callable[..., Any]) -> Callable[..., Any]:
    while isinstance(start, functools.partial):
        start = start.func
    return start


def _default_id(start: Callable[..., Any]) -> str:
    start = _unwrap(start)
    owner = getattr(start, "__self__", None)
    if isinstance(owner, type):  # a classmethod such as Counter.start_link
        return owner.__name__
    return str(getattr(start, "__qualname__", repr(start)))


def _starts_a_supervisor(start: Callable[..., Any]) -> bool:
    from ._supervisor import Supervisor

    owner = getattr(_unwrap(start), "__self__", None)
    return isinstance(owner, type) and issubclass(owner, Supervisor)
