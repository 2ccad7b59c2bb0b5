"""Read a request body piece by piece (misultin_body_recv).

    python -m examples.body_recv --port 8080
    curl --data-binary 'some data' http://127.0.0.1:8080/
    curl -H 'Transfer-Encoding: chunked' --data-binary @big.file http://127.0.0.1:8080/

With `auto_recv_body=False` the server does not read the body before
calling the handler: the handler reads it with `await req.body_recv()`,
one piece at a time, b"" at the end, so that a large upload can be
processed as it arrives. The answer says how the body came and what it
was: "received full body: b'...'" for a body with Content-Length, "done
receiving all body chunks: b'...'" for a chunked one.
"""

from __future__ import annotations

import httpserver
from examples._cli import serve_forever


async def handle_http(req: httpserver.Req) -> None:
    pieces = []
    while piece := await req.body_recv():
        pieces.append(piece)
    body = b"".join(pieces)
    if req.headers.get("transfer-encoding") is None:
        await req.ok(f"received full body: {body!r}")
    else:
        await req.ok(f"done receiving all body chunks: {body!r}")


if __name__ == "__main__":
    serve_forever(__doc__, auto_recv_body=False, loop=handle_http)
