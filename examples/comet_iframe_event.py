"""Comet through a hidden iframe, with the client's leaving handled by the
handler (misultin_comet_iframe_event).

    python -m examples.comet_iframe_event --port 8080 [--interval SECONDS]
    # then open http://127.0.0.1:8080/ in a browser, and close it

The page and the pushes of `examples.comet_iframe`, but the server runs
with `autoexit=False`: when the client goes away during /comet, the
handler is not ended for it; it receives the message "closed" in its
process's mailbox instead (the connection process, where handlers run),
and must end itself, or it would run on for nothing. It waits for that
message between pushes (`actors.receive("closed", timeout=interval)`:
a timeout means time to push), prints
"client of /comet went away: handler <PID> exits" when it comes, and
returns.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import actors
import httpserver
from examples._cli import arguments, serve_forever
from examples.comet_iframe import FRAME_HEAD, HTML, NO_CACHE, TEXT, page, push


async def notify(req: httpserver.Req, interval: float) -> None:
    """Push every `interval` seconds until the client goes away."""
    while True:
        try:
            await actors.receive("closed", timeout=interval)
        except actors.ReceiveTimeout:
            await req.stream(push(interval))
            continue
        print(f"client of /comet went away: handler {actors.self()} exits", flush=True)
        return


def pusher(interval: float) -> Callable[[httpserver.Req], Awaitable[None]]:
    """The handler; /comet pushes every `interval` seconds."""

    async def handle_http(req: httpserver.Req) -> None:
        match req.method, req.resource(lowercase=True, urldecode=True):
            case "GET" | "HEAD", []:
                await req.ok(page(interval), HTML)
            case "GET" | "HEAD", ["comet"]:
                req.options(comet=True)  # "closed" arrives when the client leaves
                await req.stream_head(headers=NO_CACHE)
                await req.stream(FRAME_HEAD)
                await notify(req, interval)
            case _:
                await req.ok("Page not found.", TEXT)

    return handle_http


if __name__ == "__main__":
    parser = arguments(__doc__)
    parser.add_argument(
        "--interval", type=float, default=5.0, help="seconds between pushes (default 5)"
    )
    serve_forever(
        parser=parser, autoexit=False, options=lambda args: {"loop": pusher(args.interval)}
    )
