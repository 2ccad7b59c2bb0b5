"""The functions of `actors` about nodes and clusters: Erlang's `node()`,
`nodes()`, `monitor_node/2`, and OTP's `global` name registry.

Without a cluster they work on the node alone: `nodes()` is empty, global
names are the node's own, and `monitor_node` of any other name answers
`NodeDown` at once (Erlang's answer for a node it cannot reach).
"""

from __future__ import annotations

from ._api import _process_of
from ._global_names import Global
from ._ids import NodeDown, Pid
from ._process import current

__all__ = [
    "Global",
    "monitor_node",
    "node_name",
    "nodes",
    "register_global",
    "unregister_global",
    "whereis_global",
]


def node_name() -> str:
    """The calling process's node's name ("nonode@nohost" outside a cluster)."""
    return current("node_name").node.name


def nodes() -> list[str]:
    """The names of the other nodes of the cluster that are up now."""
    cluster = current("nodes").node.cluster
    return [] if cluster is None else cluster.up_nodes()


def monitor_node(name: str) -> None:
    """Get `NodeDown(name)` when node `name` goes down (at once if it is
    not up). Each call asks for one message, as Erlang's does."""
    proc = current("monitor_node")
    cluster = proc.node.cluster
    if name == proc.node.name:
        return
    if cluster is None:
        proc.deliver(NodeDown(name))
        return
    cluster.monitor_node(proc, name)


async def register_global(name: object, pid: Pid | None = None) -> bool:
    """Register `name` for `pid` (default: the caller) in the whole cluster.

    True if it is now theirs; False if another process holds it (of two
    nodes registering one name at once, exactly one wins). The name is
    freed when the process dies or its node goes down.
    """
    caller = current("register_global")
    proc = caller if pid is None else _process_of(pid)
    if proc is None or proc.remote:
        raise ValueError(f"register_global needs a live local process, not {pid!r}")
    node = caller.node
    if node.cluster is None:
        holder = node.globals.get(name)
        if holder is not None and _process_of(holder) is not None:
            return False
        node.globals[name] = proc.pid
        return True
    return await node.cluster.globals.register(name, proc)


async def unregister_global(name: object) -> None:
    """Free a global name this node's process holds (no effect otherwise)."""
    node = current("unregister_global").node
    if node.cluster is None:
        node.globals.pop(name, None)
        return
    await node.cluster.globals.unregister(name)


def whereis_global(name: object) -> Pid | None:
    """The Pid holding the global `name`, or None (from this node's replica)."""
    node = current("whereis_global").node
    pid = node.globals.get(name) if node.cluster is None else node.cluster.globals.replica.get(name)
    if pid is None or _process_of(pid) is None:
        return None
    return pid
