"""REST-style routing on the path's segments (misultin_rest).

    python -m examples.rest --port 8080
    curl http://127.0.0.1:8080/users/Alice/messages

`req.resource(lowercase=True, urldecode=True)` splits the path into its
segments, lowercased and percent-decoded (`/USERS/Alice` -> ["users",
"alice"]), and a `match` statement routes on method and segments:

    GET /                       Main home page.
    GET /users                  Main users root.
    GET /users/NAME             This is NAME's page.
    GET /users/NAME/messages    This is NAME's messages page.
    anything else               Page not found.

All answers are text/plain with status 200, "Page not found." too, as in
misultin.
"""

from __future__ import annotations

import httpserver
from examples._cli import serve_forever

TEXT = {"Content-Type": "text/plain"}


def page(method: str, resource: list[str]) -> str:
    """The text for a method and the path's segments."""
    match method, resource:
        case "GET" | "HEAD", []:
            return "Main home page."
        case "GET" | "HEAD", ["users"]:
            return "Main users root."
        case "GET" | "HEAD", ["users", name]:
            return f"This is {name}'s page."
        case "GET" | "HEAD", ["users", name, "messages"]:
            return f"This is {name}'s messages page."
        case _:
            return "Page not found."


async def handle_http(req: httpserver.Req) -> None:
    await req.ok(page(req.method, req.resource(lowercase=True, urldecode=True)), TEXT)


if __name__ == "__main__":
    serve_forever(__doc__, loop=handle_http)
