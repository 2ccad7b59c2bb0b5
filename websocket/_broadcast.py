"""broadcast: one message to many sockets, framed once.

The frame is built once and the same bytes go to every socket (written at
once where its writer is idle, queued behind where it is not). Sockets with
permessage-deflate keep their own compressor, so each frames for itself.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

import actors

from ._frames import frame
from ._ws import Ws, by_handler

__all__ = ["broadcast"]


FANOUT: Final = "$websocket.fanout"
"""The name of each node's fan-out process (in a cluster)."""


def broadcast(targets: Iterable[Ws] | object, data: str | bytes) -> int:
    """Send `data` to every socket in `targets`: a list of Ws, or a process
    group whose members are handlers. For a group that spans the nodes of a
    cluster, each other node where it has members gets the message once and
    frames it once for its own sockets. Returns how many sockets of this
    node it went to."""
    if isinstance(targets, list | set | frozenset) or (
        isinstance(targets, tuple) and targets and all(isinstance(t, Ws) for t in targets)
    ):  # a tuple of names is a group name: ("chat", "A")
        return _send_all([t for t in targets if isinstance(t, Ws)], data)
    for node in actors.lowlevel.group_nodes(targets):
        actors.send((FANOUT, node), ("broadcast", targets, data))
    return _broadcast_here(targets, data)


def _broadcast_here(group: object, data: str | bytes) -> int:
    members = actors.members(group, local=True)
    return _send_all([ws for pid in members if (ws := by_handler.get(pid))], data)


def _send_all(sockets: list[Ws], data: str | bytes) -> int:
    payload = frame(data)
    sent = 0
    for ws in sockets:
        sock = ws._sock  # None once the socket ended
        if sock is None or not sock.open:
            continue
        if sock.compressed:
            sock.send(data)
        else:
            sock.push(payload)
        sent += 1
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
        actors.spawn(fanout, name=FANOUT)
