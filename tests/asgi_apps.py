"""Bare ASGI 3 apps for the ASGI tests: each does one thing the spec allows
(or breaks one rule of it), so a test sees exactly what the server does."""

from __future__ import annotations

import json
from typing import Any

import actors

Scope = dict[str, Any]


async def read_body(receive: Any) -> tuple[bytes, list[tuple[int, bool]]]:
    """The whole body, and (size, more_body) of each http.request message."""
    body = b""
    messages = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            raise RuntimeError(f"expected http.request, got {message!r}")
        body += message.get("body", b"")
        messages.append((len(message.get("body", b"")), message.get("more_body", False)))
        if not message.get("more_body", False):
            return body, messages


async def respond(send: Any, status: int, body: bytes, content_type: bytes = b"text/plain") -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", content_type)],
        }
    )
    await send({"type": "http.response.body", "body": body})


def to_json(value: Any) -> bytes:
    return json.dumps(value, default=lambda v: v.decode("latin-1")).encode()


async def scope_app(scope: Scope, receive: Any, send: Any) -> None:
    """Answers with its scope, JSON (bytes as latin-1), and the body's messages."""
    if scope["type"] != "http":
        return
    body, messages = await read_body(receive)
    shown = {k: v for k, v in scope.items() if k != "state"}
    shown["state_keys"] = sorted(scope.get("state", {}))
    shown["body"] = body
    shown["messages"] = messages
    await respond(send, 200, to_json(shown), b"application/json")


async def echo_app(scope: Scope, receive: Any, send: Any) -> None:
    """Echoes the body, and how many http.request messages it came in."""
    if scope["type"] != "http":
        return
    body, messages = await read_body(receive)
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"x-messages", str(len(messages)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def stream_app(scope: Scope, receive: Any, send: Any) -> None:
    """A streamed body of three parts, no Content-Length."""
    if scope["type"] != "http":
        return
    await read_body(receive)
    await send({"type": "http.response.start", "status": 200, "headers": []})
    for part in (b"one ", b"two ", b"three"):
        await send({"type": "http.response.body", "body": part, "more_body": True})
    await send({"type": "http.response.body", "body": b""})


async def disconnect_app(scope: Scope, receive: Any, send: Any) -> None:
    """Reads its body, tells the process named "watcher", then waits in
    receive() until the client leaves, and tells "watcher" what it got."""
    if scope["type"] != "http":
        return
    await read_body(receive)
    actors.send("watcher", "waiting")
    message = await receive()
    actors.send("watcher", ("received", message["type"]))


# -- apps that break the protocol ---------------------------------------------------


async def body_before_start(scope: Scope, receive: Any, send: Any) -> None:
    await send({"type": "http.response.body", "body": b"too early"})


async def second_start(scope: Scope, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.start", "status": 200, "headers": []})


async def unknown_type(scope: Scope, receive: Any, send: Any) -> None:
    await send({"type": "http.response.teapot"})


async def raises(scope: Scope, receive: Any, send: Any) -> None:
    raise ValueError("the app's own bug")


async def no_response(scope: Scope, receive: Any, send: Any) -> None:
    await read_body(receive)


async def bad_header(scope: Scope, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": [(b"x", b"a\r\nb: c")]})


async def too_long(scope: Scope, receive: Any, send: Any) -> None:
    await send(
        {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]}
    )
    await send({"type": "http.response.body", "body": b"abc"})


async def unknown_type_mid_stream(scope: Scope, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"begun", "more_body": True})
    await send({"type": "http.response.teapot"})


async def raises_mid_stream(scope: Scope, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"begun", "more_body": True})
    raise ValueError("the app's own bug, half way")


# -- lifespan ------------------------------------------------------------------------


class Counter(actors.GenServer):
    """A GenServer the lifespan starts: each call counts one."""

    def init(self) -> None:
        self.count = 0

    def handle_call(self, request: Any, from_: Any) -> int:
        self.count += 1
        return self.count


async def counter_app(scope: Scope, receive: Any, send: Any) -> None:
    """Its lifespan starts a Counter named "counter" (and records the order of
    events in the process named "watcher", if any); each request calls it."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                scope["state"]["counter"] = await Counter.start_link(name="counter")
                _tell(("lifespan", "startup"))
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                _tell(("lifespan", "shutdown"))
                await send({"type": "lifespan.shutdown.complete"})
                return
    elif scope["type"] == "http":
        await read_body(receive)
        if scope["path"] == "/slow":
            _tell(("request", "begun", actors.self()))
            await actors.receive("go")
        count = await actors.call(scope["state"]["counter"], "count")
        _tell(("request", "done"))
        await respond(send, 200, str(count).encode())


def _tell(message: Any) -> None:
    if actors.whereis("watcher") is not None:
        actors.send("watcher", message)


async def failing_startup(scope: Scope, receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        await receive()
        await send({"type": "lifespan.startup.failed", "message": "no database"})
        return
    await respond(send, 200, b"never")


async def no_lifespan(scope: Scope, receive: Any, send: Any) -> None:
    """Raises on the lifespan scope, as an app without one does."""
    if scope["type"] != "http":
        raise RuntimeError(f"unsupported scope {scope['type']!r}")
    await read_body(receive)
    await respond(send, 200, b"served")


# -- websocket -----------------------------------------------------------------------


async def ws_app(scope: Scope, receive: Any, send: Any) -> None:
    """By path: /refuse closes before accepting (403); /crash raises after
    accepting; /proto accepts the last subprotocol offered; anything else
    echoes, and tells the process named "watcher" how the socket ended."""
    if scope["type"] != "websocket":
        return
    assert (await receive())["type"] == "websocket.connect"
    path = scope["path"]
    if path == "/refuse":
        await send({"type": "websocket.close", "code": 4003})
        return
    if path == "/proto":
        offered = scope["subprotocols"]
        await send({"type": "websocket.accept", "subprotocol": offered[-1]})
        await send({"type": "websocket.send", "text": ",".join(offered)})
    else:
        await send({"type": "websocket.accept", "headers": [(b"x-accepted", b"yes")]})
    if path == "/crash":
        raise ValueError("the app's own bug")
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            _tell(("disconnect", message["code"]))
            return
        if message.get("text") == "bye":
            await send({"type": "websocket.close", "code": 4001, "reason": "bye"})
        elif message.get("text") is not None:
            await send({"type": "websocket.send", "text": message["text"]})
        else:
            await send({"type": "websocket.send", "bytes": message["bytes"]})
