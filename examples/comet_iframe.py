"""Comet through a hidden iframe (misultin_comet_iframe).

    python -m examples.comet_iframe --port 8080 [--interval SECONDS]
    # then open http://127.0.0.1:8080/ in a browser

GET / is a page that loads /comet in a hidden iframe. GET /comet never
ends: it streams an HTML page (`stream_head`, then `stream`) and, every
--interval seconds (default 5, as in misultin), one more
`<script>` that calls the parent page's `comet.printServerTime(...)` with
the server's time; the browser runs each script as it arrives. With
`req.options(comet=True)` the server watches the socket, so that the
handler is ended as soon as the client goes away (`autoexit=True`, the
default), not when a write fails. Other paths answer "Page not found.".
`examples.comet_iframe_event` handles the client's leaving itself.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

import trio

import httpserver
from examples._cli import arguments, serve_forever

TEXT = {"Content-Type": "text/plain"}
HTML = {"Content-Type": "text/html; charset=utf-8"}
NO_CACHE = {
    "Content-Type": "text/html; charset=utf-8",
    "Cache-Control": "no-cache, must-revalidate",
    "Expires": "Mon, 26 Jul 1997 05:00:00 GMT",
}


def page(interval: float) -> str:
    """The page that shows what /comet pushes."""
    return f"""<!DOCTYPE html>
<html>
<head>
<meta charset="utf-8">
<title>Comet demo</title>
<script>
var comet = {{
  printServerTime: function (text) {{
    document.getElementById("content").textContent = text;
  }}
}};
</script>
</head>
<body>
<div id="content">The server time will be shown here in {interval:g} seconds.</div>
<iframe src="/comet" style="display: none"></iframe>
</body>
</html>
"""


# The start of the streamed /comet document.
FRAME_HEAD = """<!DOCTYPE html>
<html>
<head><meta charset="utf-8"><title>Comet backend</title></head>
<body>
<script>var comet = window.parent.comet;</script>
"""


def push(interval: float) -> str:
    """One script for the iframe: show the server's time."""
    now = time.strftime("%H:%M:%S")
    return (
        "<script>comet.printServerTime("
        f'"Server current time is: {now}, will be updated in {interval:g} seconds.");'
        "</script>\n"
    )


def pusher(interval: float) -> Callable[[httpserver.Req], Awaitable[None]]:
    """The handler; /comet pushes every `interval` seconds."""

    async def handle_http(req: httpserver.Req) -> None:
        match req.method, req.resource(lowercase=True, urldecode=True):
            case "GET" | "HEAD", []:
                await req.ok(page(interval), HTML)
            case "GET" | "HEAD", ["comet"]:
                req.options(comet=True)  # end this handler when the client leaves
                await req.stream_head(headers=NO_CACHE)
                await req.stream(FRAME_HEAD)
                while True:
                    await trio.sleep(interval)
                    await req.stream(push(interval))
            case _:
                await req.ok("Page not found.", TEXT)

    return handle_http


if __name__ == "__main__":
    parser = arguments(__doc__)
    parser.add_argument(
        "--interval", type=float, default=5.0, help="seconds between pushes (default 5)"
    )
    serve_forever(parser=parser, options=lambda args: {"loop": pusher(args.interval)})
