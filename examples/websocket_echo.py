"""An echo WebSocket server: every message comes back unchanged.

    python -m examples.websocket_echo --port 9001 [--compress]

Text comes back as text and binary as binary, messages up to 16 MiB;
`--compress` accepts permessage-deflate when the client offers it. This is
the server the Autobahn conformance run (tests/test_ws_autobahn.py and
bench/autobahn.py) is pointed at.
"""

from __future__ import annotations

import actors
import websocket
from examples._cli import arguments, serve_forever


async def echo(ws: websocket.Ws) -> None:
    while True:
        match await actors.receive():
            case ("browser", data):
                ws.send(data)
            case _:
                pass


async def no_http(req: object) -> None:
    from httpserver import HttpError

    raise HttpError(404)


if __name__ == "__main__":
    parser = arguments(__doc__)
    parser.add_argument("--compress", action="store_true", help="accept permessage-deflate")
    serve_forever(
        parser=parser,
        loop=no_http,
        ws_loop=echo,
        ws_max_message=16 * 1024 * 1024,
        options=lambda args: {"ws_compress": args.compress},
    )
