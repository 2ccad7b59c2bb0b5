"""An anchor of the HTTP bench: a bare ASGI hello-world app for hypercorn.

No framework: every HTTP request is answered "Hello World." as text/plain
with its Content-Length; the lifespan protocol is acknowledged and nothing
else is done.

    python -m hypercorn --worker-class trio --workers 1 \
        --bind 127.0.0.1:8082 bench.baselines.asgi_hello:app
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

BODY = b"Hello World."
START: Message = {
    "type": "http.response.start",
    "status": 200,
    "headers": [
        (b"content-type", b"text/plain"),
        (b"content-length", str(len(BODY)).encode()),
    ],
}
RESPONSE_BODY: Message = {"type": "http.response.body", "body": BODY}


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    """The ASGI 3 application."""
    if scope["type"] == "http":
        # Read the request body to its end, as the h11 anchor does.
        while True:
            message = await receive()
            if message["type"] != "http.request" or not message.get("more_body", False):
                break
        await send(START)
        await send(RESPONSE_BODY)
    elif scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
