"""Compressed answers (misultin_compress).

    python -m examples.compress --port 8080
    curl --compressed -v http://127.0.0.1:8080/

With the server option `compress=True`, a body sent by `req.ok` or
`req.respond` is compressed with gzip or deflate, whichever the client's
Accept-Encoding prefers (q-values honoured), and says so in
Content-Encoding (with `Vary: Accept-Encoding`); a client that accepts
neither gets it as is. Every request is answered "Hello World Compressed.".
Files, streams and chunks are sent as they are.
"""

from __future__ import annotations

import httpserver
from examples._cli import serve_forever


async def handle_http(req: httpserver.Req) -> None:
    await req.ok("Hello World Compressed.")


if __name__ == "__main__":
    serve_forever(__doc__, compress=True, loop=handle_http)
