"""Looking at a node from inside: its figures, its processes, its
supervision trees, where a process waits, and a server's state.

Everything here reads the node's own structures synchronously (one trio
thread: a read is a consistent snapshot) and calls no user code, so the
observer page can ask as often as it likes without disturbing what it
looks at. Each value is made of builtins, Pids and strings, so it travels
to another node as it is (`actors.lowlevel.inspect`).
"""

from __future__ import annotations

import itertools
import logging
import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ._api import _process_of, function_name, resolve
from ._call import call
from ._ids import Pid
from ._observed import describe
from ._process import RUNNING, by_task, current
from ._sys import GET_STATE, view_of
from ._watch import prune, runtime_of

if TYPE_CHECKING:
    from ._node import Node
    from ._process import Process

__all__ = [
    "add_probe",
    "add_stat",
    "get_state",
    "kind_of",
    "mark_system",
    "node_info",
    "probe",
    "process_rows",
    "process_stack",
    "subscribe",
    "supervision_trees",
    "unsubscribe",
]

logger = logging.getLogger("actors")

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def _rss() -> int:
    """The resident set size of this OS process now, in bytes (0 where
    /proc is missing: macOS gives only the peak, which is not the same)."""
    try:
        with open("/proc/self/statm", "rb") as statm:
            return int(statm.read().split()[1]) * _PAGE
    except (OSError, ValueError, IndexError):
        return 0


def _label(name: object) -> str | None:
    """A registered name or group as a page shows it."""
    if name is None or type(name) is str:
        return name
    return repr(name)


# -- the node -------------------------------------------------------------------


def node_info() -> dict[str, Any]:
    """The calling process's node at a glance (see actors.lowlevel)."""
    node = current("actors.lowlevel.node_info").node
    observed = node.observed
    stats: dict[str, int] = {}
    for name, fn in observed.stats.items():
        try:
            stats[name] = int(fn())
        except Exception:
            logger.exception("actors: the stat %r failed", name)
    procs = node.procs.values()
    return {
        "node": node.name,
        "processes": len(procs),
        "rss": _rss(),
        "messages": observed.delivered_dead + sum(proc.received for proc in procs),
        "uptime": time.monotonic() - observed.started,
        "hidden": node.cluster is not None and node.cluster.hidden,
        "stats": stats,
    }


def add_stat(name: str, fn: Callable[[], int]) -> None:
    """Register a counter of an upper layer, read by `node_info` (once per
    node: a second registration of `name` is ignored)."""
    current("actors.lowlevel.add_stat").node.observed.stats.setdefault(name, fn)


def add_probe(name: str, fn: Callable[[], list[dict[str, Any]]]) -> None:
    """Register a table of an upper layer, read by `probe(name)` (once per
    node: a second registration of `name` is ignored)."""
    current("actors.lowlevel.add_probe").node.observed.probes.setdefault(name, fn)


def probe(name: str) -> list[dict[str, Any]]:
    """The rows of the table `name` now; [] if no layer registered it."""
    fn = current("actors.lowlevel.probe").node.observed.probes.get(name)
    return [] if fn is None else fn()


# -- processes -------------------------------------------------------------------


def kind_of(node: Node, proc: Process) -> str:
    """ "gen_server", "gen_statem", "supervisor" (what a behaviour's process
    says it is: actors._sys) or "process"."""
    view = view_of(proc)
    return "process" if view is None else view.kind


def _function(node: Node, proc: Process) -> str:
    view = view_of(proc)
    return function_name(proc.fn) if view is None else view.function()


def _status(proc: Process) -> str:
    if proc.reason is not RUNNING:
        return "exiting"
    return "waiting" if proc._parked else "running"


def process_rows() -> list[dict[str, Any]]:
    """One row per live process of the calling process's node; "system"
    is True for the node's own processes and those marked `mark_system`."""
    node = current("actors.lowlevel.process_rows").node
    prune()
    system = node.observed.system
    rows = []
    for proc in list(node.procs.values()):
        rows.append(
            {
                "pid": proc.pid,
                "name": _label(proc.name),
                "current_function": _function(node, proc),
                "status": _status(proc),
                "message_queue_len": proc.mailbox_len(),
                "received": proc.received,
                "runtime": runtime_of(proc),
                "links": sorted(p.pid for p in proc._links or ()),
                "monitors": len(proc._monitors or ()),
                "groups": [_label(group) for group in proc._groups or ()],
                "kind": kind_of(node, proc),
                "system": proc in system,
            }
        )
    return rows


def process_messages(pid: Pid, limit: int = 100) -> list[str]:
    """The oldest `limit` messages waiting in a live local process's
    mailbox, each as its repr (cut at 500 characters); `[]` if not alive.
    Message contents can be secrets: the observer shows them only when
    started with show_state=True."""
    proc = _process_of(pid)
    if proc is None or proc.remote or not proc._queue:
        return []
    return [describe(m, 500) for m in itertools.islice(proc._queue, max(0, limit))]


def mark_system(pid: Pid | None = None) -> None:
    """Make `pid` (default: the caller), a live process of the calling
    process's node, a system process: one an upper layer runs for itself
    (the observer's, say). `actors.processes()` leaves it out, its row
    and its exit event say "system", and an observer never kills it. A
    process that has ended is left as it was."""
    caller = current("actors.lowlevel.mark_system")
    proc = caller if pid is None else pid._proc
    if proc is None or not proc.alive:
        return
    if proc.remote or proc.node is not caller.node:
        raise ValueError(f"mark_system: {pid!r} is not a process of this node")
    caller.node.observed.system.add(proc)


def process_stack(pid: Pid) -> list[str]:
    """Where a live local process waits: one "file:line in function" per
    frame of its task's await chain, outermost first, innermost last."""
    proc = _process_of(pid)
    if proc is None or proc.remote:
        return []
    task = next((t for t, p in list(by_task.items()) if p is proc), None)
    if task is None:
        return []
    return [
        f"{frame.f_code.co_filename}:{lineno} in {frame.f_code.co_name}"
        for frame, lineno in task.iter_await_frames()
    ]


# -- supervision trees -------------------------------------------------------------


def supervision_trees() -> list[dict[str, Any]]:
    """The node's supervisors that no local supervisor supervises, each
    with its children, nested supervisors expanded (see actors.lowlevel)."""
    node = current("actors.lowlevel.supervision_trees").node
    trees: dict[Any, dict[str, Any]] = {}
    for proc, view in list(node.observed.servers.items()):
        tree = view.tree() if proc.alive else None
        if tree is not None:
            trees[proc] = tree
    supervised = {
        row["pid"]._proc for tree in trees.values() for row in tree["children"] if row["pid"]
    }
    roots = sorted((proc for proc in trees if proc not in supervised), key=lambda p: p.pid)
    system = node.observed.system
    return [
        {"pid": proc.pid, "name": _label(proc.name), **_fields(trees[proc])}
        | {"system": proc in system, "children": _children(trees[proc], trees, system, {proc})}
        for proc in roots
    ]


def _fields(tree: dict[str, Any]) -> dict[str, Any]:
    return {key: tree[key] for key in ("strategy", "intensity", "period", "restarts", "recent")}


def _children(
    tree: dict[str, Any], trees: dict[Any, dict[str, Any]], system: set[Any], seen: set[Any]
) -> list[dict[str, Any]]:
    rows = []
    for child in tree["children"]:
        row = dict(child)
        sub = child["pid"]._proc if child["pid"] is not None else None
        row["system"] = sub is not None and sub in system
        if child["type"] == "supervisor" and sub in trees and sub not in seen:
            row["supervisor"] = _fields(trees[sub])
            row["children"] = _children(trees[sub], trees, system, seen | {sub})
        rows.append(row)
    return rows


# -- events ----------------------------------------------------------------------------


def subscribe(pid: Pid | None = None) -> None:
    """`pid` (default: the caller) gets `("actors_event", kind, info)` for
    the exits (other than normal/shutdown) of the node's processes and the
    restarts its supervisors make (see actors.lowlevel)."""
    caller = current("actors.lowlevel.subscribe")
    target = caller.pid if pid is None else pid
    node = caller.node
    node.observed.subscribe(target)
    proxy = target._proc
    inspector = node.observed.inspector
    if proxy is not None and proxy.remote and inspector is not None:
        inspector.deliver(("$forget_when_down", target))  # a local one is forgotten at its exit


def unsubscribe(pid: Pid | None = None) -> None:
    """No more events for `pid` (default: the caller)."""
    caller = current("actors.lowlevel.unsubscribe")
    caller.node.observed.unsubscribe(caller.pid if pid is None else pid)


# -- a server's state -------------------------------------------------------------------


async def get_state(dest: Pid | object, timeout: float | None = 5.0) -> Any:
    """The state of a GenServer (a dict of its public attributes, a shallow
    copy) or a GenStatem (`(state, data)`), as OTP's `sys:get_state`.

    The server's loop answers it between two callbacks, running none. A
    local process that is neither raises ValueError at once; a remote or
    dead one raises `CallExit` / `CallTimeout` as a call would.
    """
    caller = current("get_state")
    proc = dest._proc if type(dest) is Pid else resolve(caller.node, dest)
    if (
        proc is not None
        and not proc.remote
        and proc.alive
        and proc.node.observed.servers.get(proc) is None
    ):
        raise ValueError(f"{proc.pid!r} is not a GenServer or GenStatem: it has no state")
    return await call(dest, GET_STATE, timeout=timeout)
