"""broadcast: one message to many sockets, framed once.

The frame is built once and the same bytes go to every socket (written at
once where its writer is idle, queued behind where it is not). Sockets with
permessage-deflate keep their own compressor, so each frames for itself.
"""

from __future__ import annotations

from collections.abc import Iterable

import actors

from ._frames import frame
from ._ws import Ws, by_handler

__all__ = ["broadcast"]


def broadcast(targets: Iterable[Ws] | object, data: str | bytes) -> int:
    """Send `data` to every socket in `targets`: a list of Ws, or a process
    group whose members are handlers. Returns how many sockets it went to."""
    if isinstance(targets, list | set | frozenset) or (
        isinstance(targets, tuple) and targets and all(isinstance(t, Ws) for t in targets)
    ):  # a tuple of names is a group name: ("chat", "A")
        sockets = [t for t in targets if isinstance(t, Ws)]
    else:
        sockets = [ws for pid in actors.members(targets) if (ws := by_handler.get(pid))]
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
