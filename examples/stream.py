"""A body streamed until the connection closes (misultin_stream).

    python -m examples.stream --port 8080 [--interval SECONDS]
    curl -N http://127.0.0.1:8080/

`await req.stream_head(headers=...)` sends the status and headers without
a Content-Length; each `await req.stream(data)` writes to the socket at
once; `await req.stream_close()` ends the body, which for the client is
the connection's close. Here: "1", "2" and "3", --interval seconds apart
(default 2, as in misultin).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import trio

import httpserver
from examples._cli import arguments, serve_forever


def streamer(interval: float) -> Callable[[httpserver.Req], Awaitable[None]]:
    """The handler, waiting `interval` seconds between writes."""

    async def handle_http(req: httpserver.Req) -> None:
        await req.stream_head(headers={"Content-Type": "text/plain"})
        for n in (1, 2, 3):
            if n > 1:
                await trio.sleep(interval)
            await req.stream(str(n))
        await req.stream_close()

    return handle_http


if __name__ == "__main__":
    parser = arguments(__doc__)
    parser.add_argument(
        "--interval", type=float, default=2.0, help="seconds between writes (default 2)"
    )
    serve_forever(parser=parser, options=lambda args: {"loop": streamer(args.interval)})
