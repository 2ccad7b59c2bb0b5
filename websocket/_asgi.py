"""The ASGI `websocket` scope, served by the same processes as `ws_loop`.

The connection process checks the opening handshake as for any socket
(version, key, Origin against `ws_origins`, permessage-deflate), then
spawns a handler process running `app(scope, receive, send)` and waits for
its decision: `websocket.accept` completes the handshake (with the app's
subprotocol and headers) and the connection process becomes the socket's
reader, as for `ws_loop`; `websocket.close` first is a 403; an app that
ends or fails first, a 500. From then on the reader, the writer, every
limit, close code, ping and the back-pressure are `ws_loop`'s: a message
from the browser is a ("browser", data) message in the handler's mailbox,
and `receive` takes it with a selective receive (the app's own messages
stay there); while the app has `ws_max_pending` waiting, the socket is not
read. The socket's end reaches `receive` as `websocket.disconnect` with the
peer's close code (1005 without one, 1006 if the connection dropped, the
server's code if it failed the socket or is going away). `send` never
blocks (the writer's queue is bounded by `ws_max_queue`); once the socket
is closed it raises `ClientDisconnected` (spec 2.4).

A violation (an unknown message type, a send before the accept, a second
accept) or an exception in the app is logged in one line; the socket then
closes with 1011, or the handshake is answered 500.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Final

import trio

import actors
from httpserver import HttpError
from httpserver.lowlevel import ClientDisconnected, switch_protocols

from . import _close_codes as close_codes
from ._handshake import negotiate
from ._reader import _Reader, open_socket, serve_websocket
from ._writer import writer_main
from ._ws import by_handler

if TYPE_CHECKING:
    from httpserver import Req

    from ._inbound import InboundFactory
    from ._options import WsOptions
    from ._socket import Socket

__all__ = ["serve_asgi_websocket"]

logger = logging.getLogger("websocket")

_DECISION: Final = (
    ("$asgi_accept", actors.ANY, actors.ANY),
    ("$asgi_close", actors.ANY),
)
_FROM_BROWSER: Final = ("browser", actors.ANY)
_OPENED: Final = ("$asgi_opened", actors.ANY)


async def serve_asgi_websocket(
    options: WsOptions, make_inbound: InboundFactory, req: Req, app: Any, base: dict[str, Any]
) -> None:
    """In the connection process: the handshake as the app decides it, then
    the reader's loop."""
    # The app chooses the subprotocol among those offered (scope["subprotocols"]).
    handshake = negotiate(req, replace(options, ws_subprotocols=()))
    scope = dict(base)
    del scope["method"]
    scope["type"] = "websocket"
    scope["scheme"] = "wss" if base["scheme"] == "https" else "ws"
    scope["subprotocols"] = [
        t.strip() for v in req.headers.getall("sec-websocket-protocol") for t in v.split(",")
    ]
    actors.trap_exits()
    session = _Session(actors.self())
    handler = actors.spawn(_handler_main, app, scope, session, link=True)
    match await actors.receive(*_DECISION, actors.Exit(handler, actors.ANY)):
        case ("$asgi_close", _):
            raise HttpError(403, b"<h1>403 Forbidden</h1>\r\nthe app refused the WebSocket")
        case actors.Exit(_, _):
            raise HttpError(500, b"<h1>500 Internal Server Error</h1>\r\nthe app did not accept")
        case ("$asgi_accept", subprotocol, extra):
            pass
    headers = dict(handshake.headers)
    if subprotocol is not None:
        headers["Sec-WebSocket-Protocol"] = subprotocol
    for name, value in extra:
        headers[name.decode("latin-1")] = value.decode("latin-1")
    try:
        takeover = await switch_protocols(req, headers)
    except BaseException:
        actors.send(handler, ("$asgi_opened", False))
        raise
    inbound, sock, ws = open_socket(options, make_inbound, req, takeover, handshake, subprotocol)
    del handshake
    session.sock = sock
    # The app hears the end as websocket.disconnect: it is never ended for it.
    reader = _Reader(replace(options, ws_autoexit=False))
    reader.attach(sock, inbound, takeover.listener)

    async def opened(reader: _Reader) -> None:
        sock.writer = actors.spawn(writer_main, sock, link=True)
        sock.handler = ws._handler = handler
        by_handler()[handler] = ws
        actors.send(handler, ("$asgi_opened", True))

    await serve_websocket(reader, opened)


class _Session:
    """What the handler and the reader share: the socket, once accepted."""

    __slots__ = ("reader", "sock")

    def __init__(self, reader: actors.Pid) -> None:
        self.reader = reader
        self.sock: Socket | None = None


class _Violation(RuntimeError):
    """The app sent a message the protocol does not allow here."""


async def _handler_main(app: Any, scope: dict[str, Any], session: _Session) -> None:
    """The handler process: the app's websocket scope."""
    state = _AppSide(session)
    try:
        await app(scope, state.receive, state.send)
    except Exception as exc:
        what = state.violation
        sock = session.sock
        if sock is None or sock.close_info is None or what is not None:
            if what is not None:
                logger.error("the ASGI app broke the WebSocket protocol: %s", what)  # noqa: TRY400 - one line
            else:
                logger.exception("the ASGI app raised %s on a WebSocket", type(exc).__name__)
        if sock is not None:
            sock.close(*close_codes.HANDLER_CRASHED)


class _AppSide:
    """`receive` and `send` of one socket's app."""

    __slots__ = ("accepted", "connected", "disconnected", "session", "violation")

    def __init__(self, session: _Session) -> None:
        self.session = session
        self.connected = False  # websocket.connect was given
        self.accepted = False
        self.disconnected = False
        self.violation: str | None = None

    def _violate(self, what: str) -> _Violation:
        if self.violation is None:
            self.violation = what
        return _Violation(f"ASGI protocol violation: {what}")

    async def receive(self) -> dict[str, Any]:
        if not self.connected:
            self.connected = True
            await trio.lowlevel.checkpoint()
            return {"type": "websocket.connect"}
        if not self.disconnected:
            msg = await actors.receive(_FROM_BROWSER, "closed")
            if msg != "closed":
                data = msg[1]
                if type(data) is str:
                    return {"type": "websocket.receive", "text": data}
                return {"type": "websocket.receive", "bytes": data}
            self.disconnected = True
        else:
            await trio.lowlevel.checkpoint()
        sock = self.session.sock
        code, reason = (sock.close_info if sock is not None else None) or (1006, "")
        return {"type": "websocket.disconnect", "code": code, "reason": reason}

    async def send(self, message: Any) -> None:
        try:
            kind = message["type"]
        except (TypeError, KeyError):
            raise self._violate(f"a message without a 'type': {message!r:.80}") from None
        session = self.session
        if not self.accepted:
            if kind == "websocket.accept":
                await self._accept(message)
            elif kind == "websocket.close" and self.connected:
                self.disconnected = True
                actors.send(session.reader, ("$asgi_close", message.get("code", 1000)))
                await trio.lowlevel.checkpoint()
            else:
                raise self._violate(f"{kind!r} before websocket.accept")
            return
        sock = session.sock
        assert sock is not None
        if kind == "websocket.send":
            data = message.get("text")
            if data is None:
                data = message.get("bytes")
            if not isinstance(data, str | bytes | bytearray):
                raise self._violate("websocket.send without text or bytes")
            if not sock.open:
                raise ClientDisconnected("the WebSocket is closed")
            sock.send(bytes(data) if isinstance(data, bytearray) else data)
        elif kind == "websocket.close":
            sock.close(message.get("code") or 1000, message.get("reason") or "")
        elif kind == "websocket.accept":
            raise self._violate("a second websocket.accept")
        else:
            raise self._violate(f"an unknown message type {kind!r}")
        await trio.lowlevel.checkpoint()

    async def _accept(self, message: Any) -> None:
        subprotocol = message.get("subprotocol")
        headers = []
        for pair in message.get("headers") or ():
            try:
                name, value = pair
            except (TypeError, ValueError):
                raise self._violate(f"an accept header that is no pair: {pair!r:.80}") from None
            if not isinstance(name, bytes) or not isinstance(value, bytes):
                raise self._violate(f"an accept header not in bytes: {pair!r:.80}")
            if name.lower() == b"sec-websocket-protocol":
                raise self._violate("sec-websocket-protocol in the accept's headers")
            headers.append((name, value))
        if subprotocol is not None and not isinstance(subprotocol, str):
            raise self._violate(f"a subprotocol that is no str: {subprotocol!r:.40}")
        actors.send(self.session.reader, ("$asgi_accept", subprotocol, headers))
        _, opened = await actors.receive(_OPENED)
        if not opened:
            self.disconnected = True
            raise ClientDisconnected("the client left during the handshake")
        self.accepted = True
