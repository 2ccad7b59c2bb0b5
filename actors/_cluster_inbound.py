"""What a node does with each message another node sends it.

Pids in a message were decoded by the receiving node (`Cluster.make_pid`):
a local Pid points at its process (or at None if it is gone), a remote one
at the sender's proxy. So each handler here is the local half of what the
sender did to a proxy: a send delivers, a link links the local process to
the proxy, a local process's end goes back as `link_exit` and `down`.

A node that is closing ends its processes without a word to their remote
links and monitors: its bye ends the connection, and the other side tells
them "noconnection". A link or monitor that arrives while it closes, for a
process already gone, gets the same silence, not a "noproc" that would
race the bye.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

from ._ids import Pid, Ref
from ._process import add_link, add_monitor, drop_link
from ._remote import RemoteName, RemoteProcess
from ._wire import WireError

if TYPE_CHECKING:
    from ._cluster import Cluster
    from ._peer import Peer
    from ._process import Process

__all__ = ["handle"]


class _Answered:
    """A call's monitor once its reply came from another node: the monitor
    there is already gone; `demonitor` removes this without a message."""

    remote = False
    _watchers = None


_ANSWERED: Final = _Answered()


def handle(cluster: Cluster, peer: Peer, msg: Any) -> None:
    """Run one control request; `WireError` if it is not one."""
    handler = _HANDLERS.get(msg[0]) if type(msg) is tuple and msg else None
    if handler is None:
        raise WireError(f"an unknown control request {_head(msg)!r}")
    try:
        handler(cluster, peer, *msg[1:])
    except (TypeError, AttributeError, ValueError, KeyError) as exc:  # a malformed request
        raise WireError(f"a malformed control request {_head(msg)!r}: {exc}") from None


def _head(msg: Any) -> Any:
    return msg[0] if type(msg) is tuple and msg else type(msg).__name__


def _local(pid: Pid) -> Process | None:
    proc = pid._proc
    if proc is None or proc.remote or not proc.alive:
        return None
    return proc  # type: ignore[no-any-return]


def _reply(cluster: Cluster, peer: Peer, to: Pid, ref: Ref, value: Any, ended: bool) -> None:
    """A reply to a call: delivered only while the caller still waits (its
    monitor, the call's alias, is on), as a local `reply` is. `ended`: the
    replier's node ended the monitor there, so none is sent back."""
    proc = _local(to)
    if proc is None or not proc._monitors or ref not in proc._monitors:
        return
    if ended:
        target = proc._monitors[ref]
        if target._watchers:
            target._watchers.pop(ref, None)
        proc._monitors[ref] = _ANSWERED  # the alias stays on until call() ends
    proc.deliver((ref, value))


def _send_name(cluster: Cluster, peer: Peer, name: object, msg: Any) -> None:
    proc = cluster.node.names.get(name)
    if proc is not None:
        proc.deliver(msg)


def _exit(cluster: Cluster, peer: Peer, sender: Pid, to: Pid, reason: Any, kill: bool) -> None:
    proc = _local(to)
    if proc is not None:
        proc.exit_signal(sender, reason, untrappable=kill)


def _link(cluster: Cluster, peer: Peer, sender: Pid, to: Pid) -> None:
    remote = sender._proc
    if not isinstance(remote, RemoteProcess):
        return
    proc = _local(to)
    if proc is None:
        if not cluster.node.closing:  # closing: its bye says "noconnection"
            remote.link_exit(to, "noproc")
        return
    add_link(proc, remote)


def _unlink(cluster: Cluster, peer: Peer, sender: Pid, to: Pid) -> None:
    remote, proc = sender._proc, _local(to)
    if isinstance(remote, RemoteProcess) and proc is not None:
        drop_link(proc, remote)


def _link_exit(cluster: Cluster, peer: Peer, sender: Pid, to: Pid, reason: Any) -> None:
    """A remote process linked to a local one ended: the signal counts only
    while the link is still there (an unlink may have crossed it)."""
    remote, proc = sender._proc, _local(to)
    if not isinstance(remote, RemoteProcess) or proc is None:
        return
    if not proc._links or remote not in proc._links:
        return
    drop_link(proc, remote)
    proc.link_exit(sender, reason)


def _monitor(cluster: Cluster, peer: Peer, ref: Ref, watcher: Pid, to: Pid) -> None:
    remote = watcher._proc
    if not isinstance(remote, RemoteProcess):
        return
    proc = _local(to)
    if proc is None:
        if not cluster.node.closing:  # closing: its bye says "noconnection"
            remote.monitor_down(ref, to, "noproc")
    else:
        add_monitor(remote, ref, proc)


def _monitor_name(cluster: Cluster, peer: Peer, ref: Ref, watcher: Pid, name: object) -> None:
    remote = watcher._proc
    if not isinstance(remote, RemoteProcess):
        return
    proc = cluster.node.names.get(name)
    if proc is None:
        if not cluster.node.closing:  # closing: its bye says "noconnection"
            remote.monitor_down(ref, (name, cluster.node.name), "noproc")
    else:
        add_monitor(remote, ref, proc)


def _demonitor(cluster: Cluster, peer: Peer, ref: Ref, watcher: Pid) -> None:
    remote = watcher._proc
    if isinstance(remote, RemoteProcess) and remote._monitors:
        proc = remote._monitors.pop(ref, None)
        if proc is not None and proc._watchers:
            proc._watchers.pop(ref, None)


def _down(cluster: Cluster, peer: Peer, ref: Ref, pid: Any, reason: Any, watcher: Pid) -> None:
    proc = _local(watcher)
    if proc is None or not proc._monitors:
        return
    target = proc._monitors.get(ref)
    if not isinstance(target, RemoteProcess):
        return
    if target._watchers:
        target._watchers.pop(ref, None)
    if isinstance(target, RemoteName):
        pid = target.monitored_as
    proc.monitor_down(ref, pid, reason)


def _pg(cluster: Cluster, peer: Peer, op: str, group: object, pid: Pid) -> None:
    members = peer.groups.setdefault(group, {})
    joins = members.get(pid, 0)
    if op == "join":
        members[pid] = joins + 1
    elif op == "leave" and joins > 1:
        members[pid] = joins - 1
    else:
        members.pop(pid, None)
    if not members:
        del peer.groups[group]


def _hello(cluster: Cluster, peer: Peer, version: int, info: dict[str, Any]) -> None:
    """The first frame of each connection: the peer's wire version, and
    what it says of itself (a later version may say more: what this one
    does not know, it skips). Its memberships and names replace what this
    node held of them."""
    if type(version) is not int or type(info) is not dict:
        raise WireError("a malformed hello")
    peer.hidden = bool(info.get("hidden", False))
    bound = info.get("stream_maxlen")
    if type(bound) is int and bound > 0:
        peer.inbox_bound = bound
    groups = info.get("groups", {})
    peer.groups = {group: dict(members) for group, members in groups.items() if members}
    for name, pid, stamp in info.get("names", ()):
        cluster.globals.set(name, pid, stamp)
    cluster.synced_from(peer.name)


def _bye(cluster: Cluster, peer: Peer) -> None:
    """The peer ends cleanly: it is down now, not a heartbeat later."""
    cluster.peer_left(peer)


def _global_set(cluster: Cluster, peer: Peer, name: object, pid: Pid, stamp: int) -> None:
    cluster.globals.set(name, pid, stamp)


def _global_del(cluster: Cluster, peer: Peer, name: object, pid: Pid) -> None:
    cluster.globals.delete(name, pid)


def _sync(cluster: Cluster, peer: Peer, ref: Ref, sender: Pid) -> None:
    """actors.lowlevel.sync_cluster: everything before this is handled."""
    proxy = sender._proc
    if proxy is not None and proxy.remote:
        proxy.deliver(("$synced", ref, cluster.node.name))


_HANDLERS: Final[dict[str, Callable[..., None]]] = {
    "hello": _hello,
    "bye": _bye,
    "sync": _sync,
    "reply": _reply,
    "send_name": _send_name,
    "exit": _exit,
    "link": _link,
    "unlink": _unlink,
    "link_exit": _link_exit,
    "monitor": _monitor,
    "monitor_name": _monitor_name,
    "demonitor": _demonitor,
    "down": _down,
    "pg": _pg,
    "global_set": _global_set,
    "global_del": _global_del,
}
