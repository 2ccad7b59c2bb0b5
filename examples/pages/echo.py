"""The echo page's socket: every message comes back unchanged (text as
text, binary as binary) until the client closes."""

from __future__ import annotations

import actors
import websocket


async def handle_websocket(ws: websocket.Ws) -> None:
    while True:
        match await actors.receive():
            case ("browser", data):
                ws.send(data)
            case _:
                pass
