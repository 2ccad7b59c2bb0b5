"""The node: the nursery that owns every process, and the process table.

`node()` turns the current task into a process and opens the nursery; `run()`
is the sync entry point built on it. When a process ends, `Node.exited` does
Erlang's bookkeeping in one synchronous step: the name is freed, groups are
left, linked processes get the exit signal and monitors get `Down`.
"""

from __future__ import annotations

import difflib
import logging
import os
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from itertools import count
from typing import TYPE_CHECKING, Any, Final, TypeVar

import trio
from trio.lowlevel import current_task

from . import _logging
from ._crash import crash_report
from ._errors import ClusterError, Interrupted, ProcessExit
from ._ids import Pid
from ._inspect_agent import start_inspector
from ._observed import Observed
from ._process import RUNNING, Process, by_task, node_tasks
from ._timers import Timers

if TYPE_CHECKING:
    from ._cluster import Cluster

__all__ = ["LOCAL_NAME", "Node", "node", "run_node"]

T = TypeVar("T")


_creations = count(1)
LOCAL_NAME: Final = "nonode@nohost"  # Erlang's name for a node outside any cluster


class Node:
    """Every process of one OS process (or one `node()` block)."""

    def __init__(self, nursery: trio.Nursery, name: str = LOCAL_NAME) -> None:
        self.name = name
        self.creation = next(_creations)  # a cluster node takes its own from Redis
        self.cluster: Cluster | None = None
        self.closing = False
        self._nursery = nursery
        self._next = 0
        self.procs: dict[int, Process] = {}
        self.names: dict[object, Process] = {}
        self.groups: dict[object, dict[Process, int]] = {}
        self.rejoins: dict[object, int] = {}  # joins past the first, per group
        self.globals: dict[object, Pid] = {}  # global names, when not in a cluster
        self.timers = Timers()
        self.observed = Observed()  # what introspection reads (actors.lowlevel)
        nursery.start_soon(self.timers.run, name="actors.timers")

    def new_process(self, fn: Callable[..., Any]) -> Process:
        if self.closing:
            raise RuntimeError("the node is shutting down; no new processes")
        number = self._next
        self._next = number + 1
        proc = Process(self, number, fn)
        self.procs[number] = proc
        return proc

    def start(self, proc: Process, args: tuple[Any, ...]) -> None:
        self._nursery.start_soon(_process_main, proc, args, name="actors.process")

    # -- the end of a process ------------------------------------------------

    def exited(self, proc: Process, reason: Any) -> None:
        """Do everything that follows a process's end, synchronously."""
        proc.alive = False
        proc.reason = reason
        proc._queue = None
        if proc._timer is not None:
            self.timers.forget(proc)
        if proc._watches is not None:
            proc.end_watches()
        self.procs.pop(proc.pid._number, None)
        self.observed.exited(proc, reason, self.closing)
        if proc.name is not None and self.names.get(proc.name) is proc:
            del self.names[proc.name]
        if proc._groups:
            for group in list(proc._groups):
                self.leave(group, proc, every=True)
            proc._groups = None
        if self.cluster is not None:
            self.cluster.process_exited(proc)
        elif self.globals:
            for name in [n for n, pid in self.globals.items() if pid._proc is proc]:
                del self.globals[name]
        links, proc._links = proc._links, None
        watchers, proc._watchers = proc._watchers, None
        monitors, proc._monitors = proc._monitors, None
        if monitors:
            for ref, target in monitors.items():
                if target.remote:
                    target.demonitor(ref, proc.pid)
                elif target._watchers:
                    target._watchers.pop(ref, None)
        if self.closing:
            return
        pid = proc.pid
        if links:
            for other in links:
                if other._links:
                    other._links.discard(proc)
                other.link_exit(pid, reason)
        if watchers:
            for ref, watcher in watchers.items():
                watcher.monitor_down(ref, pid, reason)

    # -- process groups (OTP's pg, local) ------------------------------------
    # A member is counted once per join, as in OTP: `members` lists it that
    # many times and each `leave` undoes one join. Per group, a dict from
    # process to its count keeps the order of first joins and O(1) exits.

    def join(self, group: object, proc: Process) -> None:
        if self.cluster is not None:
            self.cluster.group_changed("join", group, proc.pid)
        members = self.groups.setdefault(group, {})
        joins = members.get(proc, 0)
        members[proc] = joins + 1
        if joins:
            self.rejoins[group] = self.rejoins.get(group, 0) + 1
        if proc._groups is None:
            proc._groups = set()
        proc._groups.add(group)

    def leave(self, group: object, proc: Process, every: bool = False) -> bool:
        """Undo one join of `proc` (all of them with `every`); False if it
        was not a member."""
        members = self.groups.get(group)
        if members is None or proc not in members:
            return False
        joins = members[proc]
        if self.cluster is not None:
            self.cluster.group_changed("leave_all" if every else "leave", group, proc.pid)
        if joins > 1:
            undone = joins - 1 if every else 1
            rejoins = self.rejoins[group] - undone
            if rejoins:
                self.rejoins[group] = rejoins
            else:
                del self.rejoins[group]
            if not every:
                members[proc] = joins - 1
                return True
        del members[proc]
        if not members:
            del self.groups[group]
        if proc._groups is not None:
            proc._groups.discard(group)
        return True

    def shutdown(self) -> None:
        """End every process: cancel the node's nursery."""
        self.closing = True
        self._nursery.cancel_scope.cancel()


async def _process_main(proc: Process, args: tuple[Any, ...]) -> None:
    """The body of every spawned process's trio task.

    Its cancel scope is entered and left by hand, not with `with`: a `with`
    keeps the bound `__exit__` on the frame's stack for as long as the
    process lives, one more object per idle process for the cyclic
    collector to walk again and again (gc census of 100k idle processes).
    """
    task = current_task()
    by_task[task] = proc
    try:
        proc.scope.__enter__()
        try:
            if proc.reason is RUNNING:  # killed before it ever ran: it never runs
                body = proc.fn(*args)
                args = ()  # the body has them: no tuple for the collector to walk all its life
                await body
        except BaseException as exc:
            if not proc.scope.__exit__(type(exc), exc, exc.__traceback__):
                raise
        else:
            proc.scope.__exit__(None, None, None)
    except BaseException as exc:
        reason = _reason_of(proc, exc)
        if reason is _FOREIGN:  # KeyboardInterrupt, or the node's own cancellation
            proc.node.exited(proc, "shutdown" if isinstance(exc, trio.Cancelled) else "killed")
            raise
        if reason is exc:
            crash_report(proc, exc)
        proc.node.exited(proc, reason)
    else:
        proc.node.exited(proc, "normal" if proc.reason is RUNNING else proc.reason)
    finally:
        by_task.pop(task, None)


_FOREIGN: Final = object()


def _reason_of(proc: Process, exc: BaseException) -> Any:
    """The exit reason of a process whose body raised `exc`.

    An exit signal already received wins over whatever the unwinding raised.
    `ProcessExit(r)` (Erlang's `exit/1`), alone or in a group from a helper
    nursery, exits with `r`. Any other Exception is a crash. Anything else
    (trio's Cancelled from the node shutting down, KeyboardInterrupt) is not
    the process's own business: `_FOREIGN`.
    """
    if proc.reason is not RUNNING:
        return proc.reason
    if isinstance(exc, ProcessExit):
        return exc.reason
    if isinstance(exc, BaseExceptionGroup):
        matched, _ = exc.split(ProcessExit)
        if matched is not None:
            return _first_leaf(matched).reason
    if isinstance(exc, Exception):
        return exc
    return _FOREIGN


def _first_leaf(group: BaseExceptionGroup[ProcessExit]) -> ProcessExit:
    first = group.exceptions[0]
    return _first_leaf(first) if isinstance(first, BaseExceptionGroup) else first


def _first_exit(group: BaseExceptionGroup[SystemExit]) -> SystemExit:
    first = group.exceptions[0]
    return _first_exit(first) if isinstance(first, BaseExceptionGroup) else first


COOKIE_ENV: Final = "TRIO_MISULTIN_COOKIE"
"""Where `node()` and `run()` find the cluster's cookie when none is given."""


@asynccontextmanager
async def node(
    name: str | None = None,
    cluster: str | None = None,
    cookie: str | bytes | None = None,
    **cluster_options: Any,
) -> AsyncIterator[Node]:
    """Open a node; the calling task acts as its first process.

    With `cluster` (a Redis URL: see the README's "Clusters" for Sentinel
    and TLS) the node joins that cluster as `name`, signing its messages
    with `cookie` (default: the environment variable TRIO_MISULTIN_COOKIE),
    before the block starts; `ClusterError` if it cannot. `cluster_options`:
    `heartbeat` (seconds, default 1), `missed` (heartbeats before a node is
    down, default 3), `hidden` (True: a hidden node, Erlang's: it joins and
    talks to every node, but no other node lists it in `nodes()` or waits
    for it; an observer attaches so), `max_outbox` / `max_outbox_bytes`
    (what may wait for one peer: 1,000,000 messages, 64 MiB), `max_entry`
    (the largest message, 8 MiB), `max_decoded` (what decoding one message
    may build, 64 MiB), `stream_maxlen` (entries an inbox may hold unread,
    10,000), `sync_groups`.

    Leaving the block ends every process, trapping ones included; a
    cluster node then leaves the cluster (the others see it at once). If
    the block's process is killed by an exit signal, `ProcessExit` is raised.
    """
    if cluster is None:
        if cookie is not None or cluster_options:
            raise ValueError("cookie and cluster options need cluster=URL")
    else:
        from ._cluster import OPTIONS

        _check_options(cluster_options, OPTIONS)
        if cookie is None:
            cookie = os.environ.get(COOKIE_ENV) or None
        if cookie is None:
            raise ValueError(
                f"a cluster needs cookie= (or ${COOKIE_ENV}): the secret its nodes share"
            )
    # The cluster's nursery outlives the processes' so that a node leaves
    # with its Redis client still open (coredis's tasks live under it).
    outer_manager = trio.open_nursery()
    outer = await outer_manager.__aenter__()
    clusters: list[Cluster] = []  # the node's, once made
    try:
        async with _open_node(name, cluster, cookie, cluster_options, outer, clusters) as the_node:
            yield the_node
    finally:
        try:
            if clusters and clusters[0].joined:
                with trio.CancelScope(shield=True):
                    await clusters[0].leave()
        finally:
            for each in clusters:
                each.stop()
            outer.cancel_scope.cancel()
            await outer_manager.__aexit__(None, None, None)


def _check_options(options: dict[str, Any], known: frozenset[str]) -> None:
    for option in options:
        if option not in known:
            hint = difflib.get_close_matches(option, sorted(known), n=1)
            also = f" (did you mean {hint[0]!r}?)" if hint else ""
            raise TypeError(f"actors.node() got an unknown cluster option {option!r}{also}")


@asynccontextmanager
async def _open_node(
    name: str | None,
    cluster: str | None,
    cookie: str | bytes | None,
    cluster_options: dict[str, Any],
    outer: trio.Nursery,
    clusters: list[Cluster],
) -> AsyncIterator[Node]:
    """The node itself: its nursery, its first process, and its cluster's
    task started in `outer`."""
    nursery_manager = trio.open_nursery()
    nursery = await nursery_manager.__aenter__()
    try:
        the_node = Node(nursery, name or (_default_name() if cluster else LOCAL_NAME))
        if cluster is not None:
            from ._cluster import Cluster

            assert cookie is not None
            try:
                the_node.cluster = Cluster(the_node, cluster, cookie, **cluster_options)
                clusters.append(the_node.cluster)
                await outer.start(_cluster_task, the_node.cluster)
            except BaseException:
                the_node.shutdown()  # the timer task too: nothing ran yet
                raise
        proc = the_node.new_process(node)
        start_inspector(the_node)  # after the first process: that one is <0.0.0>
        task = current_task()
        enclosing = by_task.get(task)  # a node opened inside a process of another
        by_task[task] = proc
        failure: BaseException | None = None
        try:
            with proc.scope:
                yield the_node
        except BaseException as exc:
            failure = exc
        finally:
            if enclosing is None:
                del by_task[task]
            else:
                by_task[task] = enclosing
            the_node.shutdown()
            if proc.alive:
                the_node.exited(proc, proc.reason if proc.reason is not RUNNING else "normal")
    finally:
        try:
            await nursery_manager.__aexit__(None, None, None)
        except BaseExceptionGroup as group:
            # Ctrl-C lands in whichever task runs: give it back as itself. So
            # does a process's SystemExit (a server ending the program once it
            # has drained, on SIGTERM): the program exits with its code.
            interrupts, rest = group.split(KeyboardInterrupt)
            if interrupts is not None and rest is None:
                raise KeyboardInterrupt from None
            exits, rest = group.split(SystemExit)
            if exits is not None and rest is None:
                raise SystemExit(_first_exit(exits).code) from None
            refusals, rest = group.split(ClusterError)
            if refusals is not None and rest is None:
                raise _first_leaf(refusals) from None  # type: ignore[arg-type]
            raise
    if failure is not None:
        raise failure
    if proc.reason is not RUNNING and proc.reason != "normal":
        raise ProcessExit(proc.reason)


async def _cluster_task(cluster: Cluster, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
    """The cluster's task: it acts for the node, not for the first process
    that opened it (an exit signal to that process never lands in here),
    and it is shielded: a node cancelled from outside still leaves, and
    only `Cluster.stop` ends it."""
    task = current_task()
    node_tasks.add(task)
    try:
        await cluster.run(task_status=task_status)
    finally:
        node_tasks.discard(task)


def _default_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


def run_node(
    fn: Callable[..., Awaitable[T]],
    *args: Any,
    node: str | None = None,
    cluster: str | None = None,
    cookie: str | bytes | None = None,
    **cluster_options: Any,
) -> T:
    """`actors.run` (`_terminate.run`, which adds SIGTERM's handling and
    documents both) without SIGTERM: logging installed, the node run under
    `trio.run`, Ctrl-C turned into one line and `Interrupted`."""
    open_node = globals()["node"]
    _logging.install()

    async def main() -> T:
        async with open_node(node, cluster, cookie, **cluster_options):
            return await fn(*args)

    try:
        return trio.run(main)
    except KeyboardInterrupt as exc:
        if isinstance(exc, Interrupted):  # from a run inside this one's process
            raise
        logging.getLogger("actors").warning("stopped: interrupted by Ctrl-C (SIGINT)")
        raise Interrupted from None
