"""Comet by long polling (misultin_comet_long_polling).

    python -m examples.comet_long_polling --port 8080 [--delay SECONDS]
    # then open http://127.0.0.1:8080/ in a browser

GET / is a page whose script asks /comet again and again, appending each
answer to the page. GET /comet holds the request --delay seconds
(default 10, as in misultin) before it answers, as a server with news to
wait for would. `req.options(comet=True)` watches the socket meanwhile:
a client that goes away ends the handler at once (with the default
`autoexit=True`) rather than when it next writes. Other paths answer
"Page not found." (text/plain, status 200 as in misultin).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import trio

import httpserver
from examples._cli import arguments, serve_forever

TEXT = {"Content-Type": "text/plain"}
HTML = {"Content-Type": "text/html; charset=utf-8"}


def page(delay: float) -> str:
    return f"""<!DOCTYPE html>
<html>
<head>
<meta charset="utf-8">
<title>Long polling</title>
<script>
async function poll() {{
  while (true) {{
    try {{
      const answer = await fetch("/comet", {{cache: "no-store"}});
      const line = document.createElement("div");
      line.textContent = await answer.text();
      document.getElementById("content").appendChild(line);
    }} catch (error) {{
      console.log("long polling failed, trying again", error);
    }}
    await new Promise(resolve => setTimeout(resolve, 1000));
  }}
}}
window.addEventListener("load", poll);
</script>
</head>
<body>
<p>Long polling example: the first message comes in {delay:g} seconds.</p>
<div id="content"></div>
</body>
</html>
"""


def poller(delay: float) -> Callable[[httpserver.Req], Awaitable[None]]:
    """The handler; /comet answers after `delay` seconds."""

    async def handle_http(req: httpserver.Req) -> None:
        match req.method, req.resource(lowercase=True, urldecode=True):
            case "GET" | "HEAD", []:
                await req.ok(page(delay), HTML)
            case "GET" | "HEAD", ["comet"]:
                req.options(comet=True)  # see the client leave while we wait
                await trio.sleep(delay)
                await req.ok(
                    f"Message received from Long Polling, next message in {delay:g} seconds.",
                    TEXT,
                )
            case _:
                await req.ok("Page not found.", TEXT)

    return handle_http


if __name__ == "__main__":
    parser = arguments(__doc__)
    parser.add_argument(
        "--delay", type=float, default=10.0, help="seconds /comet waits (default 10)"
    )
    serve_forever(parser=parser, options=lambda args: {"loop": poller(args.delay)})
