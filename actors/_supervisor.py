"""Supervisor: OTP's supervisor behaviour, restart strategies and limits.

The supervisor is a GenServer that traps exits. Each child's `Exit` decides,
by its restart type, whether it comes back; the strategy decides which of
its siblings are stopped and started again with it; more than `intensity`
restarts within `period` seconds stop every child and the supervisor itself
with "shutdown". Children start in order and stop in reverse order.
"""

from __future__ import annotations

import inspect
import logging
import math
from collections import deque
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, replace
from functools import partial
from typing import Any, Final, Literal

import trio

from ._api import exit as exit_process
from ._api import link, monitor, spawn, unlink
from ._child_spec import ChildInfo, ChildSpec
from ._crash import logger
from ._errors import ReceiveTimeout, StartError
from ._gen_server import From, GenServer, Stop, call
from ._ids import Down, Exit, Pid
from ._observed import describe
from ._patterns import ANY
from ._process import current, receive
from ._reasons import is_normal_exit
from ._start import starter
from ._sys import ServerView, View

__all__ = [
    "Supervisor",
    "count_children",
    "delete_child",
    "restart_child",
    "start_child",
    "terminate_child",
    "which_children",
]

Strategy = Literal["one_for_one", "one_for_all", "rest_for_one", "simple_one_for_one"]
_STRATEGIES: Final = ("one_for_one", "one_for_all", "rest_for_one", "simple_one_for_one")


@dataclass(eq=False)
class _Child:
    spec: ChildSpec
    pid: Pid | None = None
    restarts: int = 0  # times it was started again (introspection)
    last_exit: str | None = None  # repr of the reason it last ended with

    def __describe__(self) -> Iterator[str | tuple[Any]]:
        """What a page may show of it (actors.lowlevel.describe)."""
        yield "_Child(spec="
        yield (self.spec,)
        yield f", pid={self.pid!r}, restarts={self.restarts!r}, last_exit="
        yield (self.last_exit,)
        yield ")"


class Supervisor:
    """Start supervisors; manage their children.

    `await Supervisor.start_link([child(...), ...], strategy="one_for_one",
    intensity=3, period=5, name=None)` starts the children one after
    another, each started before the next, and returns the supervisor's
    Pid once all are. A child that fails to start stops those already
    started and the start raises `StartError(("shutdown",
    ("failed_to_start_child", id, reason)))`.
    """

    @classmethod
    @starter
    async def start_link(
        cls,
        children: list[ChildSpec] | tuple[ChildSpec, ...] = (),
        strategy: Strategy = "one_for_one",
        intensity: int = 3,
        period: float = 5,
        name: object = None,
    ) -> Pid:
        """Start a supervisor linked to the caller (its parent)."""
        current(f"{cls.__name__}.start_link")  # outside a process: name this call
        _check(children, strategy, intensity, period)
        return await _SupervisorServer.start_link(
            list(children), strategy, intensity, period, name, name=name
        )

    @classmethod
    @starter
    async def start(
        cls,
        children: list[ChildSpec] | tuple[ChildSpec, ...] = (),
        strategy: Strategy = "one_for_one",
        intensity: int = 3,
        period: float = 5,
        name: object = None,
    ) -> Pid:
        """Start a supervisor that is not linked to the caller."""
        current(f"{cls.__name__}.start")  # outside a process: name this call
        _check(children, strategy, intensity, period)
        return await _SupervisorServer.start(
            list(children), strategy, intensity, period, name, name=name
        )

    @staticmethod
    async def start_child(sup: Pid | object, *args: Any) -> Pid | None:
        """Add and start a child: a `ChildSpec`, or for "simple_one_for_one"
        the extra arguments appended to the template's. Returns once it has
        started; `StartError(reason)` if it did not."""
        pid: Pid | None = await _request(sup, "start_child", args)
        return pid

    @staticmethod
    async def terminate_child(sup: Pid | object, id_or_pid: object) -> None:
        """Stop a child (by id; by Pid under "simple_one_for_one"), keeping
        its spec unless it is temporary or dynamic."""
        await _request(sup, "terminate_child", id_or_pid)

    @staticmethod
    async def restart_child(sup: Pid | object, child_id: object) -> Pid | None:
        """Start again a child that was terminated (`StartError` if it fails)."""
        pid: Pid | None = await _request(sup, "restart_child", child_id)
        return pid

    @staticmethod
    async def delete_child(sup: Pid | object, child_id: object) -> None:
        """Forget the spec of a child that is not running."""
        await _request(sup, "delete_child", child_id)

    @staticmethod
    async def which_children(sup: Pid | object) -> list[ChildInfo]:
        """Every child, in start order: id, Pid (None if not running), type."""
        return await _request(sup, "which_children", None)  # type: ignore[no-any-return]

    @staticmethod
    async def count_children(sup: Pid | object) -> dict[str, int]:
        """Counts of specs, active children, supervisors and workers."""
        return await _request(sup, "count_children", None)  # type: ignore[no-any-return]


start_child = Supervisor.start_child
terminate_child = Supervisor.terminate_child
restart_child = Supervisor.restart_child
delete_child = Supervisor.delete_child
which_children = Supervisor.which_children
count_children = Supervisor.count_children


def _check(children: Any, strategy: str, intensity: int, period: float) -> None:
    if strategy not in _STRATEGIES:
        raise ValueError(f"strategy must be one of {', '.join(_STRATEGIES)}; got {strategy!r}")
    if not isinstance(intensity, int) or isinstance(intensity, bool) or intensity < 0:
        raise ValueError(f"intensity must be an int >= 0; got {intensity!r}")
    if not isinstance(period, int | float) or isinstance(period, bool) or period <= 0:
        raise ValueError(f"period must be seconds > 0; got {period!r}")
    if not all(isinstance(spec, ChildSpec) for spec in children):
        raise TypeError("children must be made with actors.child(...)")
    if strategy == "simple_one_for_one" and len(children) != 1:
        raise ValueError("simple_one_for_one takes exactly one child spec: the template")
    ids = [spec.id for spec in children]
    duplicates = {i for i in ids if ids.count(i) > 1}
    if duplicates:
        raise ValueError(f"child ids must be unique; repeated: {sorted(map(repr, duplicates))}")


async def _request(sup: Pid | object, what: str, arg: Any) -> Any:
    current(what)  # outside a process: name this call, not the `call` it makes
    status, value = await call(sup, (what, arg), timeout=None)
    if status == "error":
        raise value
    return value


RESTART_WINDOWS: Final = "supervisor_restarts"
"""The probe (`actors.lowlevel.probe`) of each node's live supervisors."""


def _restart_windows(observed: Any) -> list[dict[str, Any]]:
    """One row per live supervisor of the node: its Pid and the restarts it
    made within its last `period` seconds, the count its `intensity` bounds
    (the observer shows it beside the limit)."""
    now = trio.current_time()
    rows = []
    for view in list(observed.servers.values()):
        if isinstance(view, _SupervisorView):
            server: Any = view.server
            rows.append({"pid": server.me, "recent": _recent(server, now)})
    return rows


def _recent(server: Any, now: float) -> int:
    """The restarts `server` made within its last `period` seconds."""
    since = now - server.period
    return sum(1 for at in getattr(server, "restarts", ()) if at >= since)


class _SupervisorServer(GenServer):
    trap_exits = True

    @classmethod
    def _sys_view(cls, server: GenServer) -> View:
        return _SupervisorView(server)

    async def init(
        self,
        specs: list[ChildSpec],
        strategy: Strategy,
        intensity: int,
        period: float,
        name: object,
    ) -> Any:
        me = current("supervisor")
        self.me = me.pid
        self._observed = me.node.observed
        self.restart_count = 0  # restarts made (each attempt), for introspection
        self.label = f"{self.me!r}" + (f" ({name!r})" if name is not None else "")
        self.strategy = strategy
        self.intensity = intensity
        self.period = period
        self.restarts: deque[float] = deque()
        self._observed.probes.setdefault(RESTART_WINDOWS, partial(_restart_windows, self._observed))
        self.simple = strategy == "simple_one_for_one"
        self.template = specs[0] if self.simple else None
        self.children: list[_Child] = [] if self.simple else [_Child(s) for s in specs]
        for child in self.children:  # in order, each started before the next
            try:
                await self._start(child)
            except StartError as exc:
                _report(
                    logging.ERROR,
                    f"{self.label} could not start child {child.spec.id!r}: "
                    f"{exc.reason!r}; stopping the ones started and exiting",
                )
                await self.terminate("shutdown")
                return Stop(("shutdown", ("failed_to_start_child", child.spec.id, exc.reason)))
        return None

    # -- starting and stopping one child --------------------------------------

    async def _start(self, child: _Child) -> Pid | None:
        """Start one child, linked; `StartError(reason)` if it did not start."""
        spec = child.spec
        try:
            pid = await _run_start(spec)
        except StartError:
            raise
        except Exception as exc:
            raise StartError(exc) from exc
        child.pid = pid
        if pid is not None:
            _report(logging.INFO, f"{self.label} started child {spec.id!r} as {pid!r}")
        return pid

    async def _stop(self, child: _Child) -> None:
        pid, child.pid = child.pid, None
        if pid is None:
            return
        ref = monitor(pid)
        unlink(pid)
        current("supervisor").take(lambda m: type(m) is Exit and m.pid == pid)
        how = child.spec.shutdown
        if how == "brutal_kill":
            exit_process(pid, "kill")
            await receive(Down(ref, pid, ANY))
            return
        exit_process(pid, "shutdown")
        try:
            await receive(Down(ref, pid, ANY), timeout=None if how == math.inf else how)
        except ReceiveTimeout:
            _report(
                logging.ERROR,
                f"{self.label}: child {child.spec.id!r} {pid!r} did not "
                f"stop within {how} s of 'shutdown'; killing it",
            )
            exit_process(pid, "kill")
            await receive(Down(ref, pid, ANY))

    # -- a child ended ---------------------------------------------------------

    async def handle_info(self, msg: Any) -> Any:
        if type(msg) is not Exit:
            return None
        child = next((c for c in self.children if c.pid == msg.pid), None)
        if child is None:
            return None
        child.pid = None
        spec, reason = child.spec, msg.reason
        child.last_exit = describe(reason)
        if not _restarts(spec, reason):
            _report(
                _level(reason),
                f"{self.label}: child {spec.id!r} {msg.pid!r} exited with "
                f"{reason!r}; {spec.restart}, so it is not restarted",
            )
            if spec.restart == "temporary" or self.simple:
                self.children.remove(child)
            return None
        return await self._restart(child, msg.pid, reason)

    async def _restart(self, child: _Child, pid: Pid, reason: Any) -> Any:
        ended = f"{self.label}: child {child.spec.id!r} {pid!r} exited with {reason!r}"
        old: Pid | None = pid
        while True:  # each attempt counts against the intensity
            now = trio.current_time()
            self.restarts.append(now)
            while self.restarts and self.restarts[0] < now - self.period:
                self.restarts.popleft()
            if len(self.restarts) > self.intensity:
                _report(
                    logging.ERROR,
                    f"{ended}; {len(self.restarts)} restarts within {self.period} s is "
                    f"more than intensity {self.intensity}: stopping every child and "
                    "exiting with 'shutdown'",
                )
                return Stop("shutdown")
            self.restart_count += 1
            group = self._affected(child)
            _report(_level(reason), f"{ended}; restarting {_names(group)} ({self.strategy})")
            for other in reversed(group):  # `child` too, if a failed attempt started it
                await self._stop(other)
            try:
                await self._start_group(child, group)
            except StartError as exc:  # counts as a restart, as in OTP
                ended = f"{self.label}: restarting {_names(group)} failed with {exc.reason!r}"
                self._restarted(child, old, None, reason)
                reason = exc.reason
                old = None
            else:
                for other in group:
                    if other.pid is not None:
                        other.restarts += 1
                self._restarted(child, old, child.pid, reason)
                return None

    def _restarted(self, child: _Child, old: Pid | None, new: Pid | None, reason: Any) -> None:
        """Tell the node's subscribers (actors.lowlevel.subscribe)."""
        info = {"supervisor": self.me, "id": child_label(child.spec.id), "old": old, "new": new}
        info["reason"] = describe(reason)
        self._observed.emit("restart", info)

    async def _start_group(self, child: _Child, group: list[_Child]) -> None:
        for other in group:
            if other.spec.restart == "temporary" and other is not child:
                self.children.remove(other)  # stopped by the strategy: gone
            else:
                await self._start(other)

    def _affected(self, child: _Child) -> list[_Child]:
        """The children the strategy restarts when `child` ends, in start order."""
        if self.strategy == "one_for_all":
            return list(self.children)
        if self.strategy == "rest_for_one":
            return self.children[self.children.index(child) :]
        return [child]

    async def terminate(self, reason: Any) -> None:
        for child in reversed(self.children):
            await self._stop(child)

    # -- requests --------------------------------------------------------------

    async def handle_call(self, request: Any, from_: From) -> Any:
        """The management requests, by name; anything else is answered with
        an error, and the supervisor goes on (OTP's supervisor does too)."""
        handler = (
            _REQUESTS.get(request[0])
            if type(request) is tuple and len(request) == 2 and type(request[0]) is str
            else None
        )
        if handler is None:
            return ("error", ValueError(f"unknown supervisor request {request!r}"))
        try:
            return ("ok", await handler(self, request[1]))
        except (LookupError, ValueError, TypeError, RuntimeError, StartError) as exc:
            return ("error", exc)

    async def _start_child(self, args: tuple[Any, ...]) -> Pid | None:
        if self.simple:
            assert self.template is not None
            child = _Child(replace(self.template, args=self.template.args + args))
        else:
            if len(args) != 1 or not isinstance(args[0], ChildSpec):
                raise TypeError("start_child takes one ChildSpec, made with actors.child(...)")
            spec = args[0]
            if any(c.spec.id == spec.id for c in self.children):
                raise ValueError(f"a child with id {spec.id!r} already exists")
            child = _Child(spec)
        pid = await self._start(child)
        if pid is not None or not self.simple:  # a dynamic child that started nothing is not kept
            self.children.append(child)
        return pid

    def _find(self, key: object) -> _Child:
        for child in self.children:
            if (child.pid == key) if self.simple else (child.spec.id == key):
                return child
        raise LookupError(f"{self.label} has no child {key!r}")

    async def _terminate_child(self, key: object) -> None:
        child = self._find(key)
        await self._stop(child)
        if self.simple or child.spec.restart == "temporary":
            self.children.remove(child)

    async def _restart_child(self, key: object) -> Pid | None:
        child = self._find(key)
        if child.pid is not None:
            raise RuntimeError(f"child {key!r} is running; terminate it first")
        return await self._start(child)

    async def _delete_child(self, key: object) -> None:
        child = self._find(key)
        if child.pid is not None:
            raise RuntimeError(f"child {key!r} is running; terminate it first")
        self.children.remove(child)

    async def _which_children(self, _: None) -> list[ChildInfo]:
        return [
            ChildInfo(None if self.simple else c.spec.id, c.pid, c.spec.type) for c in self.children
        ]

    async def _count_children(self, _: None) -> dict[str, int]:
        return {
            "specs": 1 if self.simple else len(self.children),
            "active": sum(c.pid is not None for c in self.children),
            "supervisors": sum(c.spec.type == "supervisor" for c in self.children),
            "workers": sum(c.spec.type == "worker" for c in self.children),
        }


# The requests a supervisor answers: the management functions, by name.
_REQUESTS: Final[dict[str, Callable[[_SupervisorServer, Any], Awaitable[Any]]]] = {
    "start_child": _SupervisorServer._start_child,
    "terminate_child": _SupervisorServer._terminate_child,
    "restart_child": _SupervisorServer._restart_child,
    "delete_child": _SupervisorServer._delete_child,
    "which_children": _SupervisorServer._which_children,
    "count_children": _SupervisorServer._count_children,
}


async def _run_start(spec: ChildSpec) -> Pid | None:
    """Run a child's start: spawn a body, await a starter, or call a
    function that returns a Pid (or None: nothing to supervise); link."""
    if spec.is_body:
        return spawn(spec.start, *spec.args, link=True)
    pid = spec.start(*spec.args)
    if inspect.isawaitable(pid):
        if not spec.is_starter:  # an object with an async __call__: a body
            return spawn(_await, pid, link=True)
        pid = await pid
    if pid is None:
        return None
    if not isinstance(pid, Pid):
        raise TypeError(f"child {spec.id!r}: start returned {pid!r}, not a Pid or None")
    link(pid)
    return pid


async def _await(body: Any) -> None:
    await body


class _SupervisorView(ServerView):
    """A supervisor as introspection sees it (actors._sys): its tree."""

    __slots__ = ()

    def __init__(self, server: object) -> None:
        super().__init__(server, "supervisor")

    def tree(self) -> dict[str, Any] | None:
        server = self.server
        return {
            "strategy": getattr(server, "strategy", "?"),
            "intensity": getattr(server, "intensity", 0),
            "period": getattr(server, "period", 0),
            "restarts": getattr(server, "restart_count", 0),
            "recent": _recent(server, trio.current_time()),
            "children": [
                {
                    "id": child_label(child.spec.id),
                    "pid": child.pid,
                    "type": child.spec.type,
                    "restart": child.spec.restart,
                    "restarts": child.restarts,
                    "last_exit": child.last_exit,
                }
                for child in list(getattr(server, "children", ()))
            ],
        }


def child_label(child_id: object) -> str:
    """A child id as introspection shows it: itself if a str, else its repr."""
    return child_id if type(child_id) is str else repr(child_id)


def _restarts(spec: ChildSpec, reason: Any) -> bool:
    if spec.restart == "permanent":
        return True
    if spec.restart == "temporary":
        return False
    return not is_normal_exit(reason)


def _level(reason: Any) -> int:
    return logging.INFO if is_normal_exit(reason) else logging.ERROR


def _names(group: list[_Child]) -> str:
    return ", ".join(repr(c.spec.id) for c in group)


def _report(level: int, message: str) -> None:
    logger.log(level, "supervisor report: %s", message)
