"""Sending files: Req.file and the `static` directory.

A file goes out in 64 KiB blocks read on a worker thread, with its
Content-Type (by extension), Content-Length and Last-Modified; a client
that already has it (If-Modified-Since) gets 304. Static paths are checked
segment by segment, so no `..`, no hidden trick, leaves the directory.
"""

from __future__ import annotations

import errno
import logging
import mimetypes
import os
import stat
from collections.abc import Mapping
from email.utils import formatdate, parsedate_to_datetime
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import unquote

import trio

from ._body import discard_body
from ._response import HeadersArg, encode_headers, error_page

if TYPE_CHECKING:
    from ._req import Req

__all__ = ["is_static", "send_file", "serve_static"]

BLOCK: Final = 64 * 1024
_OPEN_ERRORS: Final = {
    errno.ENOENT: 404,
    errno.ENOTDIR: 404,
    errno.EISDIR: 404,
    errno.EACCES: 403,
    errno.EPERM: 403,
}

logger = logging.getLogger("httpserver")


def is_static(target: bytes) -> bool:
    """Whether the request target is under /static (the path, not a prefix)."""
    return target == b"/static" or target.startswith((b"/static/", b"/static?"))


async def serve_static(req: Req, directory: str) -> None:
    raw = req.target.split(b"?", 1)[0].decode("latin-1")
    segments = [unquote(s) for s in raw.split("/")[2:]]
    if not segments or segments == [""] or any(_unsafe(s) for s in segments):
        await req.respond(403, None, error_page(403))
        return
    # Metadata calls on a local directory: cheaper inline than a thread hop.
    path = os.path.realpath(os.path.join(directory, *segments))  # noqa: ASYNC240
    if os.path.commonpath([path, directory]) != directory:
        await req.respond(403, None, error_page(403))
        return
    await send_file(req, path, False, None)


def _unsafe(segment: str) -> bool:
    return segment in ("", ".", "..") or any(c in segment for c in "/\\\x00")


async def send_file(req: Req, path: str, attachment: bool, headers: HeadersArg) -> None:
    # The file is opened before a byte of the answer goes out: a file that
    # cannot be opened (gone, forbidden, no descriptor left) is a whole
    # error response, never a 200 head followed by a cut body.
    try:
        info = os.stat(path)
    except OSError:
        info = None
    if info is None or not stat.S_ISREG(info.st_mode):  # a FIFO would block the open
        await req.respond(404, None, error_page(404))
        return
    discard_body(req)  # a connection holds two fds at most: its socket and this file
    try:
        f = await open_file(path)
    except OSError as exc:
        status = _OPEN_ERRORS.get(exc.errno or 0, 500)
        if status == 500:
            logger.error("cannot open %s: %s", path, exc)  # noqa: TRY400 - answered, not raised
        await req.respond(status, None, error_page(status))
        return
    async with f:
        info = os.fstat(f.fileno())  # what was opened, not what the path named before
        await _send_open_file(req, f, path, info, attachment, headers)


async def _send_open_file(
    req: Req,
    f: Any,
    path: str,
    info: os.stat_result,
    attachment: bool,
    headers: HeadersArg,
) -> None:
    mtime = int(info.st_mtime)
    last_modified = formatdate(mtime, usegmt=True)
    if _not_modified(req, mtime):
        await req.respond(304, {"Last-Modified": last_modified})
        return
    _, names = encode_headers(headers)
    extra = [("Last-Modified", last_modified)]
    if "content-type" not in names:
        kind, _ = mimetypes.guess_type(path)
        extra.append(("Content-Type", kind or "application/octet-stream"))
    if attachment:
        name = os.path.basename(path).replace('"', "")
        extra.append(("Content-Disposition", f'attachment; filename="{name}"'))
    given: list[tuple[str, str]] = list(
        headers.items() if isinstance(headers, Mapping) else headers or []
    )
    head = req._head(200, given + extra, info.st_size)
    req._phase = 3
    conn = req._conn
    await conn.write(head, 0)
    if req.method == "HEAD":
        return
    left = info.st_size
    while left > 0:
        block = await f.read(min(BLOCK, left))
        if not block:
            break
        left -= len(block)
        await conn.write(block, len(block))
    if left > 0:  # the file shrank under us: the promised length cannot be kept
        req._keep_alive = False


async def open_file(path: str) -> Any:
    """Open `path` for reading on a worker thread (a seam for the tests)."""
    return await trio.open_file(path, "rb")


def _not_modified(req: Req, mtime: int) -> bool:
    """RFC 9110 13.1.3: If-Modified-Since counts only on GET and HEAD, only
    without If-None-Match, and only when it is a valid date: anything else
    (a 20-digit year, garbage) is ignored, never an error."""
    since = req.headers.get("if-modified-since")
    if since is None or req.method not in ("GET", "HEAD"):
        return False
    if req.headers.get("if-none-match") is not None:
        return False
    try:
        when = parsedate_to_datetime(since)
        return mtime <= int(when.timestamp())
    except (TypeError, ValueError, OverflowError, OSError, IndexError):
        return False
