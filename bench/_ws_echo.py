"""examples.websocket_echo with a chosen protocol backend (the `ws` option):

    python -m bench._ws_echo --port 0 [--compress] [--ws auto|wsproto|websockets]

The server bench/autobahn.py, tests/test_ws_autobahn.py and bench/ws_bench.py
point their clients at: the example's handler and options, plus `--ws`.
"""

from __future__ import annotations

from examples._cli import arguments, serve_forever
from examples.websocket_echo import echo, no_http

if __name__ == "__main__":
    parser = arguments(__doc__)
    parser.add_argument("--compress", action="store_true", help="accept permessage-deflate")
    parser.add_argument("--ws", choices=["auto", "wsproto", "websockets"], default="auto")
    serve_forever(
        parser=parser,
        loop=no_http,
        ws_loop=echo,
        ws_max_message=16 * 1024 * 1024,
        options=lambda args: {"ws_compress": args.compress, "ws": args.ws},
    )
