"""Sending files: Req.file and the `static` directory.

A file goes out in 64 KiB blocks read on a worker thread, with its
Content-Type (by extension), Content-Length and Last-Modified; a client
that already has it (If-Modified-Since) gets 304. Static paths are checked
segment by segment, so no `..`, no hidden trick, leaves the directory.
"""

from __future__ import annotations

import mimetypes
import os
import stat
from collections.abc import Mapping
from email.utils import formatdate, parsedate_to_datetime
from typing import TYPE_CHECKING, Final
from urllib.parse import unquote

import trio

from ._response import HeadersArg, encode_headers, error_page

if TYPE_CHECKING:
    from ._req import Req

__all__ = ["is_static", "send_file", "serve_static"]

BLOCK: Final = 64 * 1024


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
    try:
        info = os.stat(path)
    except OSError:
        info = None
    if info is None or not stat.S_ISREG(info.st_mode):
        await req.respond(404, None, error_page(404))
        return
    mtime = int(info.st_mtime)
    last_modified = formatdate(mtime, usegmt=True)
    since = req.headers.get("if-modified-since")
    if since is not None and _not_modified(since, mtime):
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
    async with await trio.open_file(path, "rb") as f:
        left = info.st_size
        while left > 0:
            block = await f.read(min(BLOCK, left))
            if not block:
                break
            left -= len(block)
            await conn.write(block, len(block))
    if left > 0:  # the file shrank under us: the promised length cannot be kept
        req._keep_alive = False


def _not_modified(since: str, mtime: int) -> bool:
    try:
        when = parsedate_to_datetime(since)
    except (TypeError, ValueError):
        return False
    return mtime <= int(when.timestamp())
