"""A temporary redirect (misultin_redirect).

    python -m examples.redirect --port 8080
    curl -L http://127.0.0.1:8080/

GET / is answered `302 Found` with `Location: /redirected` and an empty
body (`await req.redirect(url)`; `permanent=True` makes it a 301); GET
/redirected answers "You got temporarily redirected here."; anything else
"Page not found." (text/plain, status 200 as in misultin).
"""

from __future__ import annotations

import httpserver
from examples._cli import serve_forever


async def handle_http(req: httpserver.Req) -> None:
    match req.method, req.resource(lowercase=True, urldecode=True):
        case "GET" | "HEAD", []:
            await req.redirect("/redirected")
        case "GET" | "HEAD", ["redirected"]:
            await req.ok("You got temporarily redirected here.")
        case _:
            await req.ok("Page not found.", {"Content-Type": "text/plain"})


if __name__ == "__main__":
    serve_forever(__doc__, loop=handle_http)
