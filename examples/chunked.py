"""A body sent in chunks as it is made (misultin_chunked).

    python -m examples.chunked --port 8080 [--interval SECONDS]
    curl -N http://127.0.0.1:8080/

`await req.chunk_head(headers=...)` sends the status and headers with
`Transfer-Encoding: chunked`; each `await req.chunk(data)` sends one chunk
at once; `await req.chunk_end()` sends the last, empty chunk, and the
connection can serve the next request. Here: "Sending CHUNK 1<br/>", 2
and 3, --interval seconds apart (default 2, as in misultin). An HTTP/1.0
client, which knows no chunks, gets the same data ended by a close.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import trio

import httpserver
from examples._cli import arguments, serve_forever


def chunker(interval: float) -> Callable[[httpserver.Req], Awaitable[None]]:
    """The handler, waiting `interval` seconds between chunks."""

    async def handle_http(req: httpserver.Req) -> None:
        await req.chunk_head(headers={"Content-Type": "text/html"})
        for n in (1, 2, 3):
            if n > 1:
                await trio.sleep(interval)
            await req.chunk(f"Sending CHUNK {n}<br/>")
        await req.chunk_end()

    return handle_http


if __name__ == "__main__":
    parser = arguments(__doc__)
    parser.add_argument(
        "--interval", type=float, default=2.0, help="seconds between chunks (default 2)"
    )
    serve_forever(parser=parser, options=lambda args: {"loop": chunker(args.interval)})
