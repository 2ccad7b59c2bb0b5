"""Processes of other nodes, as this node sees them.

A remote Pid's `_proc` is a `RemoteProcess`: it has the few methods and
fields through which the rest of `actors` touches a process (`deliver`,
`exit_signal`, `link_exit`, `monitor_down`, `_links`, `_watchers`,
`_monitors`), and each one becomes a message to the process's node. So
`send` to a remote Pid costs what a local send costs plus an append to
that node's outbox, and links and monitors keep their local bookkeeping on
the proxy: when the node goes down, the proxy knows whom to tell.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._ids import Down, Pid, Ref
from ._wire import sanitize_reason

if TYPE_CHECKING:
    from ._cluster import Peer
    from ._process import Process

__all__ = ["RemoteName", "RemoteProcess"]


class RemoteProcess:
    """A process on another node."""

    remote = True

    __slots__ = ("__weakref__", "_links", "_monitors", "_watchers", "alive", "peer", "pid")

    def __init__(self, peer: Peer, pid: Pid) -> None:
        self.peer = peer
        self.pid = pid
        self.alive = True  # until its node is down; its own death is told by signals
        self._links: set[Process] | None = None  # local processes linked to it
        self._watchers: dict[Ref, Process] | None = None  # local monitors of it
        self._monitors: dict[Ref, Process] | None = None  # its monitors of local ones

    def __repr__(self) -> str:
        return f"<RemoteProcess {self.pid!r} on {self.peer.name!r}>"

    # -- what local code does to a process ----------------------------------

    def deliver(self, msg: Any) -> None:
        if self.alive:
            self.peer.post(("send", self.pid, msg))

    def exit_signal(self, sender: Pid, reason: Any, *, untrappable: bool = False) -> None:
        if self.alive:
            self.peer.post(("exit", sender, self.pid, sanitize_reason(reason), untrappable))

    def link_exit(self, sender: Pid, reason: Any) -> None:
        """A local process linked to this one ended with `reason`."""
        if self.alive:
            self.peer.post(("link_exit", sender, self.pid, sanitize_reason(reason)))

    def monitor_down(self, ref: Ref, pid: Pid | Any, reason: Any) -> None:
        """A local process this one monitors (with `ref`) ended."""
        if self._monitors:
            self._monitors.pop(ref, None)
        if self.alive:
            self.peer.post(("down", ref, pid, sanitize_reason(reason), self.pid))

    # -- links and monitors that cross nodes --------------------------------

    def link(self, caller: Process) -> None:
        if not self.alive:
            caller.exit_signal(self.pid, "noconnection")
            return
        if caller._links is None:
            caller._links = set()
        if self._links is None:
            self._links = set()
        caller._links.add(self)
        self._links.add(caller)
        self.peer.post(("link", caller.pid, self.pid))

    def unlink(self, caller: Process) -> None:
        if caller._links:
            caller._links.discard(self)
        if self._links:
            self._links.discard(caller)
        if self.alive:
            self.peer.post(("unlink", caller.pid, self.pid))

    def monitor(self, caller: Process, ref: Ref) -> None:
        if not self.alive:
            caller.deliver(Down(ref, self.pid, "noconnection"))
            return
        if caller._monitors is None:
            caller._monitors = {}
        if self._watchers is None:
            self._watchers = {}
        caller._monitors[ref] = self
        self._watchers[ref] = caller
        self.peer.post(("monitor", ref, caller.pid, self.pid))

    def demonitor(self, ref: Ref, watcher: Pid) -> None:
        if self._watchers:
            self._watchers.pop(ref, None)
        if self.alive:
            self.peer.post(("demonitor", ref, watcher))


class RemoteName(RemoteProcess):
    """A name registered on another node, as a destination: `(name, node)`.
    Sends and monitors resolve the name there, when they arrive."""

    __slots__ = ("name",)

    def __init__(self, peer: Peer, name: object) -> None:
        super().__init__(peer, Pid(peer.name, -1, None, 0))
        self.name = name

    def __repr__(self) -> str:
        return f"<RemoteName {self.name!r} on {self.peer.name!r}>"

    def deliver(self, msg: Any) -> None:
        self.peer.post(("send_name", self.name, msg))

    def monitor(self, caller: Process, ref: Ref) -> None:
        if not self.alive:
            caller.deliver(Down(ref, (self.name, self.peer.name), "noconnection"))
            return
        if caller._monitors is None:
            caller._monitors = {}
        if self._watchers is None:
            self._watchers = {}
        caller._monitors[ref] = self
        self._watchers[ref] = caller
        self.peer.post(("monitor_name", ref, caller.pid, self.name))
