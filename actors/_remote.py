"""Processes of other nodes, as this node sees them.

A remote Pid's `_proc` is a `RemoteProcess`: it has the few methods and
fields through which the rest of `actors` touches a process (`deliver`,
`exit_signal`, `link_exit`, `monitor_down`, `_links`, `_watchers`,
`_monitors`), and each one becomes a frame to the process's node. So
`send` to a remote Pid costs what a local send costs plus an append to
that node's outbox, and links and monitors keep their local bookkeeping on
the proxy: when the connection drops, the proxy knows whom to tell.

A proxy lives as long as its node's life (its creation): `alive` follows
the connection, off while it is down and on again once it is back, so a
Pid held across a reconnect works again, as in Erlang. A proxy of an
earlier life is `gone`: a new link or monitor of it gets "noproc".
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._entries import name_prefix
from ._ids import Down, Pid, Ref
from ._process import add_link, add_monitor, drop_link
from ._wire import sanitize_reason

if TYPE_CHECKING:
    from ._peer import Peer
    from ._process import Process

__all__ = ["RemoteName", "RemoteProcess"]


class RemoteProcess:
    """A process on another node."""

    remote = True

    __slots__ = ("__weakref__", "_links", "_monitors", "_watchers", "alive", "peer", "pid")

    def __init__(self, peer: Peer, pid: Pid) -> None:
        self.peer = peer
        self.pid = pid
        self.alive = True  # while its node is connected; its own death is told by signals
        self._links: set[Process] | None = None  # local processes linked to it
        self._watchers: dict[Ref, Process] | None = None  # local monitors of it
        self._monitors: dict[Ref, Process] | None = None  # its monitors of local ones

    def __repr__(self) -> str:
        return f"<RemoteProcess {self.pid!r} on {self.peer.name!r}>"

    @property
    def gone(self) -> bool:
        """Of an earlier life of its node: dead for good (a node that left
        and has not come back is only not connected, as in Erlang)."""
        return self.peer.cluster.peers.get(self.peer.name, self.peer).creation != self.pid._creation

    # -- what local code does to a process ----------------------------------

    def deliver(self, msg: Any) -> None:
        if self.alive:
            self.peer.send(self.pid._number, msg)

    def exit_signal(self, sender: Pid, reason: Any, *, untrappable: bool = False) -> None:
        if self.alive:
            self.peer.control(
                "exit", sender, self.pid, sanitize_reason(reason), untrappable, lenient=True
            )

    def link_exit(self, sender: Pid, reason: Any) -> None:
        """A local process linked to this one ended with `reason`."""
        if self.alive:
            self.peer.control("link_exit", sender, self.pid, sanitize_reason(reason), lenient=True)

    def monitor_down(self, ref: Ref, pid: Pid | Any, reason: Any) -> None:
        """A local process this one monitors (with `ref`) ended."""
        if self._monitors:
            self._monitors.pop(ref, None)
        if self.alive:
            self.peer.control("down", ref, pid, sanitize_reason(reason), self.pid, lenient=True)

    # -- links and monitors that cross nodes --------------------------------

    def link(self, caller: Process) -> None:
        if not self.alive:
            caller.exit_signal(self.pid, "noproc" if self.gone else "noconnection")
            return
        add_link(caller, self)
        self.peer.control("link", caller.pid, self.pid)

    def unlink(self, caller: Process) -> None:
        drop_link(caller, self)
        if self.alive:
            self.peer.control("unlink", caller.pid, self.pid)

    @property
    def monitored_as(self) -> Any:
        """What a `Down` of a monitor of this process names."""
        return self.pid

    def monitor(self, caller: Process, ref: Ref) -> None:
        if not self.alive:
            reason = "noproc" if self.gone else "noconnection"
            caller.deliver(Down(ref, self.monitored_as, reason))
            return
        add_monitor(caller, ref, self)
        self.peer.control(*self._monitor_request(ref, caller))

    def _monitor_request(self, ref: Ref, caller: Process) -> tuple[Any, ...]:
        return ("monitor", ref, caller.pid, self.pid)

    def demonitor(self, ref: Ref, watcher: Pid) -> None:
        if self._watchers:
            self._watchers.pop(ref, None)
        if self.alive:
            self.peer.control("demonitor", ref, watcher)


class RemoteName(RemoteProcess):
    """A name registered on another node, as a destination: `(name, node)`.
    Sends and monitors resolve the name there, when they arrive."""

    __slots__ = ("name", "prefix")

    def __init__(self, peer: Peer, name: object) -> None:
        super().__init__(peer, Pid(peer.name, -1, None, 0))
        self.name = name
        self.prefix = name_prefix(name)  # how it travels before each message

    def __repr__(self) -> str:
        return f"<RemoteName {self.name!r} on {self.peer.name!r}>"

    @property
    def gone(self) -> bool:
        return False  # a name outlives the lives of its node

    def deliver(self, msg: Any) -> None:
        if self.alive:
            self.peer.send_name(self.name, self.prefix, msg)

    @property
    def monitored_as(self) -> Any:
        return (self.name, self.peer.name)

    def _monitor_request(self, ref: Ref, caller: Process) -> tuple[Any, ...]:
        return ("monitor_name", ref, caller.pid, self.name)
