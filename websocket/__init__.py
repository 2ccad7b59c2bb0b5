"""WebSockets (RFC 6455), framed by wsproto or by our own decoder on the
websockets library's C masking (the `ws` option): one handler process per
socket.

    async def handle_websocket(ws):
        while True:
            match await actors.receive():
                case ("browser", data):
                    ws.send(f"received '{data}'")
                case "closed":
                    return

    httpserver.start_link(port=8080, loop=handle_http, ws_loop=handle_websocket)

`protocol(ws_loop, **ws_options)` builds the upgrade protocol a server
takes as `upgrades={"websocket": ...}`; httpserver's shorthand `ws_loop=`
finds it through the entry point declared in pyproject.toml.
"""

import actors.lowlevel

from ._broadcast import broadcast as broadcast
from ._protocol import WebSocketProtocol as WebSocketProtocol
from ._protocol import protocol as protocol
from ._protocol_options import ProtocolOptions as ProtocolOptions
from ._ws import Ws as Ws

actors.lowlevel.add_logger("websocket")  # formatted as actors' own under actors.run

__all__ = ["ProtocolOptions", "WebSocketProtocol", "Ws", "broadcast", "protocol"]
