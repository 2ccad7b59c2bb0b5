"""Echo the request's variables back as XML (misultin_echo).

    python -m examples.echo --port 8080
    curl 'http://127.0.0.1:8080/?a=1&b=2'
    curl -d 'a=1&b=2' http://127.0.0.1:8080/

GET echoes the query string (`req.parse_qs()`), POST the form in the body
(`await req.parse_post()`: urlencoded pairs, or multipart parts):

    <misultin_test><method>GET</method><param><name>a</name><value>1</value></param>...</misultin_test>

Names and values are XML-escaped (misultin wrote them as they came). HEAD
is answered like GET, without the body; other methods get 405 (misultin's
handler crashed on them, which made a 500).
"""

from __future__ import annotations

from xml.sax.saxutils import escape

import httpserver
from examples._cli import serve_forever


async def variables(req: httpserver.Req) -> list[tuple[str, str]]:
    """The request's variables: the query for GET, the form for POST."""
    if req.method != "POST":
        return req.parse_qs()
    form = await req.parse_post()
    if isinstance(form, bytes):  # application/octet-stream: no variables
        return []
    return [(item.name, item.text) if isinstance(item, httpserver.Part) else item for item in form]


async def handle_http(req: httpserver.Req) -> None:
    if req.method not in ("GET", "HEAD", "POST"):
        await req.respond(405, {"Allow": "GET, HEAD, POST"}, b"")
        return
    params = "".join(
        f"<param><name>{escape(name)}</name><value>{escape(value)}</value></param>"
        for name, value in await variables(req)
    )
    await req.ok(
        f"<misultin_test><method>{req.method}</method>{params}</misultin_test>",
        {"Content-Type": "text/xml"},
    )


if __name__ == "__main__":
    serve_forever(__doc__, loop=handle_http)
