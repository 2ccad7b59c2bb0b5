"""The reader: the connection process after the upgrade.

A helper task reads frames and turns them into messages for the handler;
the process's own task, which traps exits, runs the rest from its mailbox:
the closing handshake (whoever starts it), pings for idle sockets, and the
ends of the handler and the writer. Every close frame goes out through the
writer, behind what was already queued, so nothing sent before it is lost.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Final

import trio
from wsproto.connection import Connection, ConnectionState, ConnectionType
from wsproto.events import BytesMessage, CloseConnection, Ping, Pong, TextMessage
from wsproto.extensions import Extension
from wsproto.frame_protocol import CloseReason

import actors
from actors._api import end_process, is_idle

from ._handshake import negotiate
from ._writer import writer_main
from ._ws import Ws, by_handler

if TYPE_CHECKING:
    from httpserver import Options, Req
    from httpserver._connection import Connection as HttpConnection

__all__ = ["serve_websocket"]

CLOSE_TIMEOUT: Final = 5.0  # how long a closing handshake may take
HANDLER_GRACE: Final = 1.0  # how long a closing socket waits for its handler
RECV_SIZE: Final = 65536


async def serve_websocket(req: Req, conn: HttpConnection) -> None:
    """Complete the handshake on `conn`, then serve the socket until it ends."""
    options = conn.server.options
    handshake = negotiate(req, options)
    leftover = conn.parser.trailing_data[0] if conn.parser is not None else b""
    conn.parser = None  # HTTP is over: its parser is not kept
    await conn.stream.send_all(handshake.response)
    req.status = 101
    req._phase = 3
    conn.upgraded = True
    extensions: list[Extension] | None = (
        [handshake.deflate] if handshake.deflate is not None else None
    )
    wsconn = Connection(ConnectionType.SERVER, extensions=extensions, trailing_data=leftover)
    ws = Ws(req, conn, wsconn, handshake, options)
    actors.trap_exits()
    ws.writer = actors.spawn(writer_main, ws, link=True)
    assert options.ws_loop is not None
    ws.handler = actors.spawn(options.ws_loop, ws, link=True)
    by_handler[ws.handler] = ws
    reason: Any = "normal"
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_read_frames, ws, options)
            reason = await _Closing(ws, options).run()
            nursery.cancel_scope.cancel()
    finally:
        by_handler.pop(ws.handler, None)
        end_process(ws.writer, "normal")
    if reason != "normal":
        raise actors.ProcessExit(reason)


async def _read_frames(ws: Ws, options: Options) -> None:
    """Frames in, messages out: ("browser", data) to the handler."""
    wsconn = ws._wsconn
    stream = ws._conn.stream
    handler = ws.handler
    reader = ws.reader
    limit = options.ws_max_message
    parts: list[Any] = []
    size = 0
    while True:
        for event in wsconn.events():
            kind = type(event)
            if kind is TextMessage or kind is BytesMessage:
                data = event.data  # type: ignore[attr-defined]
                if event.message_finished and not parts:  # type: ignore[attr-defined]
                    if len(data) > limit:
                        actors.send(reader, ("$fail", CloseReason.MESSAGE_TOO_BIG, "too big"))
                        return
                    actors.send(handler, ("browser", data if kind is TextMessage else bytes(data)))
                    continue
                parts.append(data)
                size += len(data)
                if size > limit:
                    actors.send(reader, ("$fail", CloseReason.MESSAGE_TOO_BIG, "too big"))
                    return
                if event.message_finished:  # type: ignore[attr-defined]
                    whole = "".join(parts) if kind is TextMessage else b"".join(parts)
                    parts, size = [], 0
                    actors.send(handler, ("browser", whole))
            elif kind is Ping:
                ws.to_writer(wsconn.send(event.response()))  # type: ignore[attr-defined]
            elif kind is Pong:
                pass  # any frame counts as a sign of life, below
            elif kind is CloseConnection:
                if wsconn.state is ConnectionState.OPEN:  # wsproto failed the frames
                    actors.send(reader, ("$fail", event.code, event.reason))  # type: ignore[attr-defined]
                else:
                    actors.send(reader, ("$peer_closed", event.code))  # type: ignore[attr-defined]
                return
        try:
            data = await stream.receive_some(RECV_SIZE)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            data = b""
        if not data:
            actors.send(reader, ("$eof",))
            return
        ws.last_seen = trio.current_time()
        wsconn.receive_data(data)


def _normal(reason: Any) -> bool:
    return reason in ("normal", "shutdown") if type(reason) is str else False


class _Closing:
    """The mailbox side of the reader: who closes, and when it is over."""

    __slots__ = (
        "deadline",
        "got_close",
        "handler_told",
        "listener",
        "options",
        "ping_sent_at",
        "reason",
        "sent_close",
        "ws",
    )

    def __init__(self, ws: Ws, options: Options) -> None:
        self.ws = ws
        self.options = options
        self.sent_close = False  # our close frame is on the wire
        self.got_close = False  # the peer's close frame came
        self.deadline = math.inf  # for the closing handshake
        self.ping_sent_at: float | None = None
        self.handler_told = False
        self.reason: Any = "normal"  # the reader's own exit reason
        listener = ws._conn.server.pid
        self.listener = listener

    def close(self, code: int, reason: str = "") -> None:
        """Start our side of the closing handshake (once)."""
        ws = self.ws
        if ws._open:
            ws._open = False
            assert ws.writer is not None
            actors.send(ws.writer, ("$close", code, reason))
        if self.deadline == math.inf:
            self.deadline = trio.current_time() + CLOSE_TIMEOUT

    def tell_handler(self) -> None:
        """The socket is closing: end the handler ("normal") with
        ws_autoexit, or send it "closed"."""
        if self.handler_told:
            return
        self.handler_told = True
        handler = self.ws.handler
        assert handler is not None
        if self.options.ws_autoexit:
            end_process(handler, "normal")
        else:
            actors.send(handler, "closed")

    async def let_handler_finish(self) -> None:
        """Before a close, let the handler answer the messages it already
        has (bounded), so that its answers go out before the close frame."""
        handler = self.ws.handler
        assert handler is not None
        with trio.move_on_after(HANDLER_GRACE):
            while not is_idle(handler):
                await trio.lowlevel.checkpoint()

    def timeout(self) -> float:
        now = trio.current_time()
        if self.deadline != math.inf:
            return max(0.0, self.deadline - now)
        if self.ping_sent_at is not None:
            return max(0.0, self.ping_sent_at + self.options.ws_ping_timeout - now)
        return max(0.0, self.ws.last_seen + self.options.ws_ping_interval - now)

    async def run(self) -> Any:
        ws = self.ws
        while not (self.sent_close and self.got_close):
            try:
                msg = await actors.receive(timeout=self.timeout())
            except actors.ReceiveTimeout:
                if self.on_timeout():
                    break
                continue
            match msg:
                case ("$peer_closed", code):
                    self.got_close = True
                    await self.let_handler_finish()
                    self.tell_handler()
                    # Answer with the peer's code, as RFC 6455 7.1.5 suggests.
                    self.close(1000 if code in (CloseReason.NO_STATUS_RCVD, None) else code)
                case ("$fail", code, why):
                    await self.let_handler_finish()
                    self.tell_handler()
                    self.close(code, why)
                    self.got_close = True  # a failed connection waits for nothing
                case ("$eof",):
                    self.tell_handler()
                    break
                case ("$overflow",):
                    self.tell_handler()
                    self.close(1008, "the client is not reading")
                    self.got_close = True
                case ("$close_sent",):
                    self.sent_close = True
                    if self.deadline == math.inf:
                        self.deadline = trio.current_time() + CLOSE_TIMEOUT
                case actors.Exit(pid, reason) if pid == ws.handler:
                    self.handler_told = True
                    self.close(1000 if _normal(reason) else 1011)
                case actors.Exit(pid, reason) if pid == ws.writer:
                    if not _normal(reason) or not self.sent_close:
                        break  # the writer could not write: the socket is gone
                case actors.Exit(pid, reason) if pid == self.listener:
                    self.reason = reason
                    self.tell_handler()
                    self.close(1001, "the server is going away")
                case _:
                    pass
        self.tell_handler()
        return self.reason

    def on_timeout(self) -> bool:
        """A deadline passed; True when the socket should end now."""
        now = trio.current_time()
        ws = self.ws
        if self.deadline != math.inf:
            return now >= self.deadline  # the closing handshake took too long
        if self.ping_sent_at is not None:
            if ws.last_seen >= self.ping_sent_at:
                self.ping_sent_at = None  # the peer answered
                return False
            if now >= self.ping_sent_at + self.options.ws_ping_timeout:
                self.tell_handler()
                self.close(1011, "ping timeout")
                self.got_close = True
            return False
        if now >= ws.last_seen + self.options.ws_ping_interval and ws._open:
            self.ping_sent_at = now
            ws.to_writer(ws._wsconn.send(Ping(payload=b"trio-misultin")))
        return False
