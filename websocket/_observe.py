"""What the observer page sees of a node's WebSockets: the "websockets"
count in `actors.lowlevel.node_info` and the "websockets" probe, one row
per open socket. Registered when a server with `ws_loop` starts; read only
when someone looks, from the table of open sockets the reader keeps
(`by_handler`), so it costs nothing per frame."""

from __future__ import annotations

from typing import Any

import actors
import actors.lowlevel

from ._ws import by_handler

__all__ = ["register"]


def register() -> None:
    """Register the count and the probe with the calling process's node."""
    actors.lowlevel.add_stat("websockets", _count)
    actors.lowlevel.add_probe("websockets", _rows)


def _open() -> list[tuple[actors.Pid, Any]]:
    return [(pid, ws._sock) for pid, ws in list(by_handler().items()) if ws._sock is not None]


def _count() -> int:
    return len(_open())


def _rows() -> list[dict[str, Any]]:
    rows = []
    for pid, sock in _open():
        ws = sock.handle
        ip, port = ws.peer[0], ws.peer[1]
        rows.append(
            {
                "peer": f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}",
                "path": ws.path,
                "handler": pid,
                "writer": sock.writer,
                "queued_bytes": sock.queued,
                "pending": actors.lowlevel.mailbox_len(pid),
                "compression": sock.compressed,
            }
        )
    return rows
