"""Serve a directory under /static/ (misultin_static).

    python -m examples.static --port 8080 --dir examples/assets
    curl http://127.0.0.1:8080/static/hello.txt

With the server option `static=DIR`, `GET /static/PATH` is answered by the
server itself with the file DIR/PATH (Content-Type by extension, 304 for
If-Modified-Since); a path that leaves DIR (`..`) or names the directory
itself is refused with 403, a missing file is 404. Every other request
goes to the handler, which answers "Not a static file request.".
--dir defaults to examples/assets.
"""

from __future__ import annotations

from pathlib import Path

import httpserver
from examples._cli import arguments, serve_forever

ASSETS = Path(__file__).resolve().parent / "assets"


async def handle_http(req: httpserver.Req) -> None:
    await req.ok("Not a static file request.")


if __name__ == "__main__":
    parser = arguments(__doc__)
    parser.add_argument(
        "--dir", default=str(ASSETS), help="the directory to serve (default examples/assets)"
    )
    serve_forever(parser=parser, loop=handle_http, options=lambda args: {"static": args.dir})
