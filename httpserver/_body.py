"""Request bodies read before the handler runs (`auto_recv_body`): in memory
while small, in a temporary file past `SPOOL_SIZE`.

So a hundred clients each posting a few MiB cost a few pages of memory each,
not their whole bodies; `Req.body()` reads a spooled body back (the whole of
it, into memory: prefer `body_recv()` or `parse_post()` for large ones), and
`body_recv()` and the multipart parser read it back piece by piece. The file
is closed (and so deleted) when the response is done.
"""

from __future__ import annotations

import tempfile
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from ._req import Req

__all__ = ["PIECE", "SPOOL_SIZE", "discard_body", "receive_body"]

SPOOL_SIZE: Final = 64 * 1024  # a body larger than this goes to a temporary file
PIECE: Final = 64 * 1024  # what body_recv() reads back from the file at a time


async def receive_body(req: Req) -> None:
    """Read the whole body of `req` from the client: into `req._body` if it
    is at most SPOOL_SIZE bytes, else into the file `req._body_file`."""
    conn = req._conn
    pieces: list[bytes] = []
    size = 0
    while True:
        piece = await conn.read_body(req)
        if not piece:
            break
        size += len(piece)
        pieces.append(piece)
        if size > SPOOL_SIZE:
            break
    if size <= SPOOL_SIZE:
        req._body = b"".join(pieces)
        return
    spool = tempfile.TemporaryFile()  # noqa: SIM115 - the Req owns it until discard_body
    try:
        spool.writelines(pieces)
        del pieces
        while piece := await conn.read_body(req):
            spool.write(piece)
        spool.seek(0)
    except BaseException:
        spool.close()
        raise
    req._body_file = spool


def discard_body(req: Req) -> None:
    """Close the body's temporary file, if it has one."""
    spool = req._body_file
    if spool is not None:
        req._body_file = None
        spool.close()
