"""The module-level functions of `actors`: Erlang's BIFs, in trio's style.

Sync functions never block (`spawn`, `send`, `link`, `exit` ...); the one
async function here, `receive`, is always a checkpoint.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial
from typing import TYPE_CHECKING, Any

from ._errors import NameNotRegistered
from ._global_names import Global
from ._ids import Down, Pid, Ref
from ._process import RUNNING, Process, add_link, add_monitor, current, drop_link
from ._process import receive as receive

__all__ = [
    "demonitor",
    "exit",
    "join",
    "leave",
    "link",
    "members",
    "monitor",
    "process_info",
    "processes",
    "receive",
    "register",
    "registered",
    "self",
    "send",
    "spawn",
    "spawn_link",
    "spawn_monitor",
    "trap_exits",
    "unlink",
    "unregister",
    "whereis",
]

if TYPE_CHECKING:
    from ._node import Node

AsyncFn = Callable[..., Awaitable[Any]]


def spawn(
    fn: AsyncFn,
    *args: Any,
    name: object = None,
    link: bool = False,
    trap_exits: bool = False,
) -> Pid:
    """Start `fn(*args)` as a new process and return its Pid at once.

    `name=` registers it, `link=True` links it to the caller (atomically:
    before it runs), `trap_exits=True` sets its flag before it runs.
    """
    return spawn_as("spawn", fn, args, name, link, trap_exits)


def spawn_as(
    what: str,
    fn: AsyncFn,
    args: tuple[Any, ...],
    name: object,
    link: bool,
    trap_exits: bool,
    system: bool = False,
) -> Pid:
    """`spawn`, for the API call `what` (which an error outside a process
    names); `system`: a system process of the node (`_system.py`)."""
    caller = current(what)
    node = caller.node
    if name is not None and name in node.names:
        raise ValueError(f"name {name!r} is already registered to {node.names[name].pid!r}")
    proc = node.new_process(fn)
    if trap_exits:
        proc.trap = True
    if system:
        node.observed.system.add(proc)
    if name is not None:
        _register(node.names, name, proc)
    if link:
        add_link(caller, proc)
    node.start(proc, args)
    return proc.pid


def spawn_link(fn: AsyncFn, *args: Any) -> Pid:
    """`spawn(fn, *args, link=True)`."""
    return spawn_as("spawn_link", fn, args, None, True, False)


def spawn_monitor(fn: AsyncFn, *args: Any) -> tuple[Pid, Ref]:
    """Spawn `fn(*args)` and monitor it, atomically."""
    pid = spawn_as("spawn_monitor", fn, args, None, False, False)
    return pid, monitor(pid)


def self() -> Pid:
    """The Pid of the calling process."""
    return current("self").pid


def send(dest: Pid | object, msg: Any) -> None:
    """Send `msg` to a Pid or a registered name; never blocks.

    To a dead Pid it is dropped silently; to a name no process holds it
    raises `NameNotRegistered`.
    """
    if type(dest) is Pid:
        proc = dest._proc
        if proc is not None:
            proc.deliver(msg)
        return
    node = current("send").node
    proc = node.names.get(dest)
    if proc is None:
        proc = resolve(node, dest)
        if proc is None:
            if _is_remote_form(node, dest):
                return  # a name on a node that is not up: dropped, as Erlang does
            raise NameNotRegistered(dest)
    proc.deliver(msg)


def resolve(node: Node, dest: object) -> Any:
    """The process a destination other than a Pid names, or None: a local
    name, `(name, node_name)` (a proxy when that node is another), or
    `Global(name)`."""
    proc = node.names.get(dest)
    if proc is not None:
        return proc
    kind = type(dest)
    if kind is Global:
        cluster = node.cluster
        pid = (
            cluster.globals.replica.get(dest.name)  # type: ignore[attr-defined]
            if cluster is not None
            else node.globals.get(dest.name)  # type: ignore[attr-defined]
        )
        return None if pid is None else _process_of(pid)
    if kind is tuple and len(dest) == 2 and type(dest[1]) is str:  # type: ignore[arg-type, index]
        name: object = dest[0]  # type: ignore[index]
        where: str = dest[1]  # type: ignore[index]
        if where == node.name:
            return node.names.get(name)
        cluster = node.cluster
        if cluster is not None:
            peer = cluster.peers.get(where)
            if peer is None:
                peer = cluster.peer_for(where, 0)
            return peer.name_proxy(name)
    return None


def _is_remote_form(node: Node, dest: object) -> bool:
    return (
        node.cluster is not None
        and type(dest) is tuple
        and len(dest) == 2
        and type(dest[1]) is str
        and dest[1] != node.name
    )


# -- links, monitors, exit signals -----------------------------------------


def _process_of(pid: Pid) -> Any:
    proc = pid._proc
    if proc is None or not proc.alive:
        return None
    return proc


def link(pid: Pid) -> None:
    """Link the caller and `pid` both ways; a dead `pid` sends "noproc"."""
    caller = current("link")
    target = pid._proc
    if target is not None and target.remote:
        target.link(caller)  # a dead node's: "noconnection"
        return
    target = _process_of(pid)
    if target is caller:
        return
    if target is None:
        caller.exit_signal(pid, "noproc")
        return
    if target.remote:
        target.link(caller)
        return
    add_link(caller, target)


def unlink(pid: Pid) -> None:
    """Remove the link between the caller and `pid`, if there is one."""
    caller = current("unlink")
    target = pid._proc
    if target is not None and target.remote:
        target.unlink(caller)
        return
    if target is not None:
        drop_link(caller, target)


def monitor(target: Pid | object) -> Ref:
    """Watch a Pid or a registered name; `Down(ref, pid, reason)` comes when
    it ends, or at once with "noproc" if it is not alive."""
    return monitor_from(current("monitor"), target)


def monitor_from(caller: Process, target: Pid | object) -> Ref:
    """`monitor`, for a caller already looked up."""
    proc = target._proc if type(target) is Pid else resolve(caller.node, target)
    return monitor_process(caller, proc, target)


def monitor_process(
    caller: Process, proc: Any, target: Pid | object, ref: Ref | None = None
) -> Ref:
    """`monitor` of `proc`, already found from `target` (a Pid or any
    destination), which a "noproc" `Down` names; with `ref`, a ref already made."""
    if ref is None:
        ref = Ref()
    if proc is None or not (proc.alive or proc.remote):  # a dead node's: "noconnection"
        caller.deliver(Down(ref, target, "noproc"))
        return ref
    if proc.remote:
        proc.monitor(caller, ref)
        return ref
    add_monitor(caller, ref, proc)
    return ref


def demonitor(ref: Ref, flush: bool = False) -> bool:
    """Stop the monitor `ref`; with `flush`, drop its `Down` if already queued.

    Returns whether the monitor was still active.
    """
    return demonitor_from(current("demonitor"), ref, flush)


def demonitor_from(caller: Process, ref: Ref, flush: bool) -> bool:
    """`demonitor`, for a caller already looked up."""
    target = caller._monitors.pop(ref, None) if caller._monitors else None
    if target is not None:
        if target.remote:
            target.demonitor(ref, caller.pid)
        elif target._watchers:
            target._watchers.pop(ref, None)
    if flush and caller._queue:
        caller.take(lambda msg: type(msg) is Down and msg.ref is ref)
    return target is not None


def exit(pid: Pid, reason: Any) -> None:  # noqa: A001 - Erlang's name
    """Send an exit signal with `reason` to `pid` (Erlang's `exit/2`).

    "normal" is ignored by a process that does not trap exits (unless it is
    the caller); "kill" cannot be trapped and ends the target as "killed".
    """
    caller = current("exit")
    target = _process_of(pid)
    if target is None:
        return
    kill = type(reason) is str and reason == "kill"
    target.exit_signal(caller.pid, reason, untrappable=kill)


def trap_exits(flag: bool = True) -> bool:
    """Set the caller's trap-exit flag; return the old one."""
    caller = current("trap_exits")
    old, caller.trap = caller.trap, flag
    return old


# -- the registry -----------------------------------------------------------


def _register(names: dict[object, Process], name: object, proc: Process) -> None:
    if proc.name is not None:
        raise ValueError(f"{proc.pid!r} is already registered as {proc.name!r}")
    names[name] = proc
    proc.name = name


def register(name: object, pid: Pid | None = None) -> None:
    """Register `name` for `pid` (default: the caller). The name dies with it."""
    if name is None:
        raise ValueError("None cannot be registered as a name")
    caller = current("register")
    proc = caller if pid is None else _process_of(pid)
    if proc is None:
        raise ValueError(f"cannot register {name!r}: {pid!r} is not alive")
    names = caller.node.names
    holder = names.get(name)
    if holder is not None:
        raise ValueError(f"name {name!r} is already registered to {holder.pid!r}")
    _register(names, name, proc)


def unregister(name: object) -> None:
    """Remove a registered name; `NameNotRegistered` if nobody holds it."""
    names = current("unregister").node.names
    proc = names.pop(name, None)
    if proc is None:
        raise NameNotRegistered(name)
    proc.name = None


def whereis(name: object) -> Pid | None:
    """The Pid registered as `name`, or None."""
    proc = current("whereis").node.names.get(name)
    return None if proc is None else proc.pid


def registered() -> list[object]:
    """Every registered name of the node, but its system processes'
    ("$inspect", and those of `actors.lowlevel.spawn_system`)."""
    node = current("registered").node
    system = node.observed.system
    return [name for name, proc in node.names.items() if proc not in system]


# -- process groups ---------------------------------------------------------


def join(group: object, pid: Pid | None = None) -> None:
    """Add `pid` (default: the caller) to `group`; it leaves when it dies.
    As in OTP's pg, a process that joins twice is a member twice."""
    caller = current("join")
    proc = caller if pid is None else _process_of(pid)
    if proc is None:
        raise ValueError(f"cannot join {group!r}: {pid!r} is not alive")
    caller.node.join(group, proc)


def leave(group: object, pid: Pid | None = None) -> None:
    """Undo one join of `pid` (default: the caller) to `group`."""
    caller = current("leave")
    proc = caller if pid is None else pid._proc
    if proc is not None:
        caller.node.leave(group, proc)


def members(group: object, local: bool = False) -> list[Pid]:
    """The live members of `group`: this node's first, in the order they
    first joined, each as many times as it joined; then, in a cluster, the
    other nodes' (from this node's replica), unless `local`."""
    node = current("members").node
    found = node.groups.get(group)
    if not found:
        pids = []
    elif group not in node.rejoins:  # every member joined once: the common case
        pids = [proc.pid for proc in found]
    else:
        pids = [proc.pid for proc, joins in found.items() for _ in range(joins)]
    if not local and node.cluster is not None:
        pids += node.cluster.remote_members(group)
    return pids


# -- introspection ----------------------------------------------------------


def processes() -> list[Pid]:
    """The Pids of every live process of the node, but its system processes
    ("$inspect", and those of `actors.lowlevel.spawn_system`), which
    `actors.lowlevel.process_rows` lists."""
    node = current("processes").node
    system = node.observed.system
    return [proc.pid for proc in node.procs.values() if proc not in system]


def function_name(fn: Any) -> str:
    """ "module.qualname" of a process's function; a `partial` is
    named by the function it wraps, never by its repr (its arguments may
    hold secrets, and a page shows this name to whoever opens it)."""
    while isinstance(fn, partial):
        fn = fn.func
    name = getattr(fn, "__qualname__", None) or type(fn).__qualname__
    return f"{getattr(fn, '__module__', '?')}.{name}"


def process_info(pid: Pid) -> dict[str, Any] | None:
    """A snapshot of a live process's state, or None if it is not alive."""
    proc = _process_of(pid)
    if proc is None:
        return None
    if proc.reason is not RUNNING:
        status = "exiting"
    elif proc._parked:
        status = "waiting"
    else:
        status = "running"
    fn = proc.fn
    return {
        "pid": proc.pid,
        "status": status,
        "message_queue_len": proc.mailbox_len(),
        "links": sorted(p.pid for p in proc._links or ()),
        "monitors": [(ref, p.pid) for ref, p in (proc._monitors or {}).items()],  # oldest first
        "monitored_by": sorted({p.pid for p in (proc._watchers or {}).values()}),
        "registered_name": proc.name,
        "trap_exit": proc.trap,
        "groups": list(proc._groups or ()),
        "current_function": function_name(fn),
    }
