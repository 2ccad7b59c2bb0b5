"""The writer process: the one task that writes a socket's queued frames.

It takes everything waiting in its mailbox at once and writes it with one
send, so a burst costs one syscall. A (CLOSE, frame) message sends the
close frame behind all that was queued before it; the writer then tells
the reader and ends. The reader spawns it, linked, as the socket opens.
After an overflow (`Socket.purge`) what is queued is dropped and the close frame
(1008, queued by `Socket.to_writer`) goes out alone.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

import trio

import actors

from ._frames import pong_frame
from ._socket import PONG

if TYPE_CHECKING:
    from ._socket import Socket

__all__ = ["WRITE_PIECE", "writer_main"]

WRITE_PIECE: Final = 256 * 1024


async def writer_main(sock: Socket) -> None:
    """The writer's body (its spawner, the reader, linked it)."""
    stream = sock.stream
    closing: bytes | None = None
    while closing is None:
        batch = [await actors.receive()]
        while True:  # whatever else is already here goes in the same write
            try:
                batch.append(await actors.receive(timeout=0))
            except actors.ReceiveTimeout:
                break
        data = []
        counted = 0
        for item in batch:
            if type(item) is bytes:
                data.append(item)
                counted += len(item)
            elif item is PONG:
                data.extend(pong_frame(payload) for payload in sock.pongs or ())
                sock.pongs = None
            else:  # (CLOSE, frame): nothing after it goes out
                closing = item[1]
                break
        if sock.purge:  # overflow: the close frame goes out alone
            data = []
        if data:
            if not await _write(sock, stream, b"".join(data)):
                return
            sock.queued -= counted
    if not await _write(sock, stream, closing):
        return
    actors.send(sock.reader, ("$close_sent",))


async def _write(sock: Socket, stream: trio.abc.Stream, payload: bytes) -> bool:
    """Write `payload`; False when the stream is broken or closed."""
    sock.writing = True
    try:
        # In pieces, each stamped: the reader closes a socket that takes no
        # piece for ws_ping_timeout (`Socket.write_since`), however slowly
        # but surely a large write goes on.
        view = memoryview(payload)
        for start in range(0, len(view), WRITE_PIECE):
            sock.write_since = trio.current_time()
            await stream.send_all(view[start : start + WRITE_PIECE])
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        return False
    finally:
        sock.writing = False
    return True
