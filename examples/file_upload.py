"""Upload a file with a multipart form and save it (misultin_file_upload).

    python -m examples.file_upload --port 8080 --upload-dir /tmp/uploads
    curl -F file=@notes.txt http://127.0.0.1:8080/

GET / is a form that posts one file as multipart/form-data. POST / reads
it with `await req.parse_post()`, which streams the body into
`httpserver.Part`s (a large part is spooled to disk, never held whole in
memory); when the form holds exactly one file, it is copied into the
upload directory under its own name (only the last component of it: a
name such as "../x" cannot leave the directory) and the answer says
where: `File has been successfully saved to "PATH".`. Anything else
is answered 500, as in misultin. --upload-dir defaults to a new temporary
directory, printed at start.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from collections.abc import Awaitable, Callable
from html import escape
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

import trio

import httpserver
from examples._cli import arguments, serve_forever

HTML = {"Content-Type": "text/html; charset=utf-8"}
TEXT = {"Content-Type": "text/plain"}


def form(destination: Path) -> str:
    """The upload page."""
    return f"""<!DOCTYPE html>
<html>
<head><meta charset="utf-8"><title>File upload</title></head>
<body>
<p>Choose a file to upload: it will be saved in "{escape(str(destination))}".</p>
<form action="/" method="POST" enctype="multipart/form-data">
<input type="file" name="file">
<input type="submit">
</form>
</body>
</html>
"""


def safe_name(filename: str) -> str | None:
    """The file name without any directory part, or None if nothing is left."""
    name = PureWindowsPath(PurePosixPath(filename).name).name
    return None if name in ("", ".", "..") else name


def save(part: httpserver.Part, target: Path) -> None:
    """Copy a part to `target` (blocking: run it on a thread)."""
    part.file.seek(0)
    with target.open("wb") as out:
        shutil.copyfileobj(part.file, out)


def uploader(destination: Path) -> Callable[[httpserver.Req], Awaitable[None]]:
    """The handler, saving into `destination`."""

    async def handle_http(req: httpserver.Req) -> None:
        resource = req.resource(lowercase=True, urldecode=True)
        if resource or req.method not in ("GET", "HEAD", "POST"):
            await req.ok("Page not found.", TEXT)
        elif req.method != "POST":
            await req.ok(form(destination), HTML)
        else:
            await receive_file(req, destination)

    return handle_http


async def receive_file(req: httpserver.Req, destination: Path) -> None:
    posted = await req.parse_post()
    fields = posted if isinstance(posted, list) else []  # not bytes (octet-stream)
    parts = [field for field in fields if isinstance(field, httpserver.Part)]
    try:
        saved = await save_single_file(parts, len(fields), destination)
    finally:
        for part in parts:
            part.file.close()
    if saved is None:
        await req.respond(500)
    else:
        await req.ok(f'File has been successfully saved to "{saved}".')


async def save_single_file(
    parts: list[httpserver.Part], fields: int, destination: Path
) -> Path | None:
    """Save the form's only field if it is a file; where it went, or None."""
    if fields != 1 or len(parts) != 1 or parts[0].filename is None:
        return None
    name = safe_name(parts[0].filename)
    if name is None:
        return None
    target = destination / name
    try:
        await trio.to_thread.run_sync(save, parts[0], target)
    except OSError:
        return None
    return target


def upload_options(args: argparse.Namespace) -> dict[str, Any]:
    uploads = Path(args.upload_dir or tempfile.mkdtemp(prefix="uploads-")).resolve()
    uploads.mkdir(parents=True, exist_ok=True)
    print(f"saving uploads in {uploads}", flush=True)
    return {"loop": uploader(uploads)}


if __name__ == "__main__":
    parser = arguments(__doc__)
    parser.add_argument(
        "--upload-dir", help="where to save uploads (default: a new temporary directory)"
    )
    serve_forever(parser=parser, options=upload_options)
