"""misultin's WebSocket example over TLS: https:// for the page, wss:// for the socket.

    pip install trustme
    python -m examples.websocket_example_ssl --port 8443 --ca-file ca.pem
    then trust ca.pem and open https://localhost:8443/ in a browser

The same page and handler as examples.websocket_example (every message is
answered "received 'data'", 5 seconds of silence bring "pushing!"), but the
server speaks TLS and the page opens wss://HOST:PORT/service. Nothing
changes for the handler: the upgrade and the frames go through the TLS
stream the connection already has.

As in examples.ssl, no key is kept anywhere: a throwaway certificate
authority is made at start with `trustme`, it issues a certificate for
localhost, and only the CA's certificate is written to --ca-file (default:
a file in a new temporary directory, printed at start) for clients to
trust.
"""

from __future__ import annotations

import httpserver
from examples import websocket_example
from examples._cli import arguments, serve_forever
from examples.ssl import tls_options

PAGE = websocket_example.PAGE  # over https:// it opens wss:// to its own host


async def handle_http(req: httpserver.Req) -> None:
    await req.ok(PAGE, {"Content-Type": "text/html; charset=utf-8"})


handle_websocket = websocket_example.handle_websocket


if __name__ == "__main__":
    parser = arguments(__doc__)
    parser.add_argument(
        "--ca-file", help="where to write the CA certificate (default: a temporary file)"
    )
    serve_forever(parser=parser, loop=handle_http, ws_loop=handle_websocket, options=tls_options)
