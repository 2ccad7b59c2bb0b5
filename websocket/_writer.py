"""The writer process: the one task that writes a socket's queued frames.

It takes everything waiting in its mailbox at once and writes it with one
send, so a burst costs one syscall. A ("$close", code, reason) message sends
the close frame behind all that was queued before it, then the writer ends.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import trio
from wsproto.connection import ConnectionState
from wsproto.events import CloseConnection

import actors

if TYPE_CHECKING:
    from ._ws import Ws

__all__ = ["writer_main"]


async def writer_main(ws: Ws) -> None:
    stream = ws._conn.stream
    closing: tuple[str, int, str] | None = None
    while closing is None:
        batch = [await actors.receive()]
        while True:  # whatever else is already here goes in the same write
            try:
                batch.append(await actors.receive(timeout=0))
            except actors.ReceiveTimeout:
                break
        data = []
        for item in batch:
            if type(item) is bytes:
                data.append(item)
            elif closing is None:
                closing = item
        if ws._purge:  # overflow: what is queued is dropped, 1008 goes out
            data = []
            closing = ("$close", 1008, "the client is not reading")
        if data:
            payload = b"".join(data)
            try:
                await stream.send_all(payload)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                return
            ws._queued -= len(payload)
        if ws._purge and closing is None:
            closing = ("$close", 1008, "the client is not reading")
    _, code, reason = closing
    wsconn = ws._wsconn
    if wsconn.state in (ConnectionState.OPEN, ConnectionState.REMOTE_CLOSING):
        try:
            await stream.send_all(wsconn.send(CloseConnection(code=code, reason=reason)))
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            return
    actors.send(ws.reader, ("$close_sent",))
