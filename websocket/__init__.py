"""WebSockets (RFC 6455) on wsproto or the websockets library (the `ws`
option): one handler process per socket.

    async def handle_websocket(ws):
        while True:
            match await actors.receive():
                case ("browser", data):
                    ws.send(f"received '{data}'")
                case "closed":
                    return

    httpserver.start_link(port=8080, loop=handle_http, ws_loop=handle_websocket)

`httpserver` finds `upgrade_handler` here when a server starts with `ws_loop`.
"""

from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

import actors.lowlevel

from ._broadcast import broadcast as broadcast
from ._ws import Ws as Ws

actors.lowlevel.add_logger("websocket")  # formatted as actors' own under actors.run

__all__ = ["Ws", "broadcast", "upgrade_handler"]


def upgrade_handler(options: Any) -> Callable[..., Awaitable[None]]:
    """The coroutine function httpserver calls with an upgrade request.
    In a cluster, it also starts the node's fan-out process (broadcasts);
    it registers the node's "websockets" count and probe (the observer's)."""
    from . import _observe
    from ._broadcast import ensure_fanout
    from ._inbound import backend
    from ._reader import serve_websocket

    ensure_fanout()
    _observe.register()
    _, make_inbound = backend(getattr(options, "ws", "auto"))
    return partial(serve_websocket, options, make_inbound)
