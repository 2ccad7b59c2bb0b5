"""broadcast: one message to many sockets, framed once, written once a turn.

The frame is built once and the same bytes go to every socket. Sockets
with permessage-deflate keep their own compressor, so each frames for
itself.

A handler that broadcasts usually broadcasts more than once before it
waits again (a burst of news, a chat room's backlog). Writing each message
to each socket as it comes costs one system call per delivery; instead a
socket's frames are held from its first broadcast on (`Socket.corked`,
anything else sent to it meanwhile goes behind them, in order) and the
node's flusher process writes them, one write per socket, as soon as the
broadcasting process lets other processes run. Messages arrive as they
would have, a turn later at most.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Final

import actors

from ._frames import frame
from ._ws import Ws, by_handler

if TYPE_CHECKING:
    from ._socket import Socket

__all__ = ["broadcast"]

_NAME: Final = "$websocket_flusher"
_FLUSH: Final = ("$flush",)


class _Flusher:
    """The sockets of one node with frames held, and whether a flush is asked."""

    __slots__ = ("asked", "corked")

    def __init__(self) -> None:
        self.corked: list[Socket] = []
        self.asked = False

    def flush(self) -> None:
        corked, self.corked = self.corked, []
        self.asked = False
        for sock in corked:
            sock.uncork()


# The node's flusher, as (its Pid, its state): state of the node, not of
# this module (two nodes in one OS process each have their own).
_FLUSHER: actors.lowlevel.NodeVar[tuple[actors.Pid, _Flusher] | None] = actors.lowlevel.NodeVar(
    "websocket.flusher"
)


async def _flusher_main(flusher: _Flusher) -> None:
    try:
        while True:
            await actors.receive()
            flusher.flush()
    finally:
        held = _FLUSHER.get(None)
        if held is not None and held[1] is flusher:
            _FLUSHER.set(None)
        flusher.flush()  # nothing stays held


def _flusher() -> tuple[actors.Pid, _Flusher]:
    held = _FLUSHER.get(None)
    if held is not None and actors.whereis(_NAME) == held[0]:
        return held
    found = _Flusher()
    pid = actors.lowlevel.spawn_system(_flusher_main, found, name=_NAME)  # the node's
    _FLUSHER.set((pid, found))
    return pid, found


FANOUT: Final = "$websocket.fanout"
"""The name of each node's fan-out process (in a cluster)."""


def broadcast(targets: Iterable[Ws] | object, data: str | bytes) -> int:
    """Send `data` to every socket in `targets`: a list of Ws, or a process
    group whose members are handlers. For a group that spans the nodes of a
    cluster, each other node where it has members gets the message once and
    frames it once for its own sockets. Returns how many sockets of this
    node it went to."""
    try:
        if isinstance(targets, list | set | frozenset) or (
            isinstance(targets, tuple) and targets and all(isinstance(t, Ws) for t in targets)
        ):  # a tuple of names is a group name: ("chat", "A")
            return _send_all([t for t in targets if isinstance(t, Ws)], data)
        for node in actors.lowlevel.group_nodes(targets):
            actors.send((FANOUT, node), ("broadcast", targets, data))
        return _broadcast_here(targets, data)
    except actors.NotInProcess:  # name the call the user made, not ours inside it
        raise actors.NotInProcess("websocket.broadcast") from None


def _broadcast_here(group: object, data: str | bytes) -> int:
    members = actors.members(group, local=True)
    sockets = by_handler()
    return _send_all([ws for pid in members if (ws := sockets.get(pid))], data)


def _send_all(sockets: list[Ws], data: str | bytes) -> int:
    payload = frame(data)
    pid, flusher = _flusher()
    held = flusher.corked
    sent = 0
    for ws in sockets:
        sock = ws._sock  # None once the socket ended
        if sock is None or not sock.open:
            continue
        if sock.corked is None:
            sock.corked = []
            held.append(sock)
        if sock.compressed:
            sock.send(data)
        else:
            sock.push(payload)
        sent += 1
    if held and not flusher.asked:
        flusher.asked = True
        actors.send(pid, _FLUSH)
    return sent


async def fanout() -> None:
    """The body of a node's fan-out process: broadcasts from other nodes,
    sent to this node's sockets."""
    while True:
        match await actors.receive():
            case ("broadcast", group, str() | bytes() as data):
                _broadcast_here(group, data)
            case _:
                pass


def ensure_fanout() -> None:
    """Start this node's fan-out process, if it is in a cluster and has none."""
    if actors.lowlevel.in_cluster() and actors.whereis(FANOUT) is None:
        actors.lowlevel.spawn_system(fanout, name=FANOUT)  # the node's, not the user's
