"""misultin's WebSocket event example: the handler hears that its socket closed.

    python -m examples.websocket_event_example --port 8080
    then open http://localhost:8080/ in a browser, and close the tab

The page and the answers are those of examples.websocket_example
("received 'data'", and "pushing!" after 5 seconds of silence). The
difference is the server option ws_autoexit=False: when the socket closes
(either side, or the connection breaks) the handler is not ended for you;
it gets the message "closed" instead, can clean up, and must return by
itself (a handler that kept waiting would linger for nothing). Here it
prints "The WebSocket was CLOSED! (IP:PORT)" and returns.
"""

from __future__ import annotations

import actors
import websocket
from examples import websocket_example
from examples._cli import serve_forever

handle_http = websocket_example.handle_http


async def handle_websocket(ws: websocket.Ws, push_after: float = 5.0) -> None:
    """Answer each message, push after `push_after` seconds of silence,
    and on "closed" say so and end."""
    while True:
        try:
            match await actors.receive(timeout=push_after):
                case ("browser", data):
                    ws.send(f"received '{data}'")
                case "closed":
                    ip, port = ws.peer
                    print(f"The WebSocket was CLOSED! ({ip}:{port})", flush=True)
                    return
                case _:
                    pass
        except actors.ReceiveTimeout:
            ws.send("pushing!")


if __name__ == "__main__":
    serve_forever(__doc__, loop=handle_http, ws_loop=handle_websocket, ws_autoexit=False)
