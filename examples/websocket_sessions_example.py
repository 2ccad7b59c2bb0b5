"""misultin's WebSocket sessions example: a socket reads and updates the HTTP session.

    python -m examples.websocket_sessions_example --port 8080 [--push-every 5]
    then open http://localhost:8080/ in a browser

GET / starts (or finds) the client's session with `await req.session()`,
which sets the "misultin_session" cookie, and saves the state
(client address, 1) in it: every page load starts the count again. The
page is the one of examples.websocket_example and opens
ws://HOST:PORT/service (its own host); the browser sends the cookie with the upgrade
request.

The socket's handler answers each message "received 'data'". After
--push-every seconds of silence (5 by default; every message starts the
wait again) it reads the session with `await ws.session()`, saves the
count plus one with `await ws.save_session_state(id, state)`, and pushes
"pushed N time(s) for user with session IP: ADDRESS". The count lives in
the session, not in the handler: a second socket of the same browser goes
on from where the first stopped.

A socket cannot set a cookie, so `ws.session()` only finds a session the
page started (LookupError otherwise). A socket that comes without one
(or with an unknown or expired id) is told so in a message, then closed
with code 1008 and the reason "no HTTP session".
"""

from __future__ import annotations

import argparse
from functools import partial
from typing import Any

import actors
import httpserver
import websocket
from examples import websocket_example
from examples._cli import arguments, serve_forever

NO_SESSION = "no session: load the page first, it starts one (a WebSocket cannot set a cookie)"


async def handle_http(req: httpserver.Req) -> None:
    session_id, _state = await req.session()
    await req.save_session_state(session_id, (req.peer[0], 1))
    await req.ok(websocket_example.PAGE, {"Content-Type": "text/html; charset=utf-8"})


async def session_count(ws: websocket.Ws) -> tuple[str, str, int] | None:
    """(session id, client address, count) from the socket's session, or
    None when it has none that this example started."""
    try:
        session_id, state = await ws.session()
    except LookupError:
        return None
    match state:
        case (str(address), int(count)):
            return session_id, address, count
        case _:
            return None


def refuse(ws: websocket.Ws) -> None:
    """Tell the client it has no session, and close."""
    ws.send(NO_SESSION)
    ws.close(1008, "no HTTP session")


async def handle_websocket(ws: websocket.Ws, push_after: float = 5.0) -> None:
    """Answer each message; after `push_after` seconds of silence, count
    one more push in the session and tell the client."""
    if await session_count(ws) is None:
        refuse(ws)
        return
    while True:
        try:
            match await actors.receive(timeout=push_after):
                case ("browser", data):
                    ws.send(f"received '{data}'")
                case _:
                    pass
        except actors.ReceiveTimeout:
            found = await session_count(ws)
            if found is None:  # expired since
                refuse(ws)
                return
            session_id, address, count = found
            try:
                await ws.save_session_state(session_id, (address, count + 1))
            except ValueError:  # expired just now
                refuse(ws)
                return
            ws.send(f"pushed {count} time(s) for user with session IP: {address}")


def push_options(args: argparse.Namespace) -> dict[str, Any]:
    return {"ws_loop": partial(handle_websocket, push_after=args.push_every)}


if __name__ == "__main__":
    parser = arguments(__doc__)
    parser.add_argument(
        "--push-every",
        type=float,
        default=5.0,
        help="seconds of silence before a push (default 5)",
    )
    serve_forever(parser=parser, loop=handle_http, options=push_options)
