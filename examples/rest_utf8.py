"""REST-style routing with UTF-8 pages (misultin_rest_utf8).

    python -m examples.rest_utf8 --port 8080
    curl http://127.0.0.1:8080/users/%E3%81%93%E3%82%93%E3%81%AB%E3%81%A1%E3%81%AF

The routes of `examples.rest`, answered as a small HTML page declared
UTF-8 (in its Content-Type and in a <meta> tag): a user name sent
percent-encoded in the path comes back as the characters it encodes,
e.g. "This is こんにちは's page.".
"""

from __future__ import annotations

from html import escape

import httpserver
from examples._cli import serve_forever
from examples.rest import page

HTML = {"Content-Type": "text/html; charset=utf-8"}


def template(content: str) -> str:
    """`content` in a page that says it is UTF-8."""
    return (
        '<html><head><meta http-equiv="content-type" content="text/html; charset=UTF-8">'
        f"</head><body>{escape(content, quote=False)}</body></html>"
    )


async def handle_http(req: httpserver.Req) -> None:
    await req.ok(template(page(req.method, req.resource(lowercase=True, urldecode=True))), HTML)


if __name__ == "__main__":
    serve_forever(__doc__, loop=handle_http)
