"""What a protocol built on top of httpserver needs beyond the public API.

The seam between HTTP and what follows an upgrade is a table: a server takes
`upgrades={"websocket": protocol}` (misultin's `ws_loop=` is a shorthand for
it, resolved through the entry point `websocket` declares), and when a
request asks to upgrade to a token of the table, the connection process
leaves the request loop and its deadlines and hands the request to the
protocol: `serve(req)` on a misultin server, `serve_asgi(req, app, scope)`
on an ASGI one (`scope` holds the keys every ASGI connection scope shares,
from `asgi_scope`). `UpgradeProtocol` says what such an object is.

`switch_protocols` is cowboy's switch_protocol: it answers the request with
101 Switching Protocols (with the server's own headers), marks the request
answered, drops the HTTP parser, and hands the connection over as a
`Takeover`: the stream, the bytes the client sent past the request, the
server's options, its listener and its sessions. From then on the caller's
protocol owns the stream; the connection process closes it when the
protocol returns, however it ends.

`request_session(req)` and `save_request_session(req, session_id, state)`
are the Takeover's `session` and `save_session` for a request alone: a
protocol that keeps the request for the connection's life (a WebSocket's
`Ws`) need not keep its Takeover too, one object less per connection for
the collector to walk.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

import trio

import actors

from ._asgi_scope import ClientDisconnected, asgi_scope
from ._errors import ResponseError
from ._options import describe, is_async_callable
from ._response import SERVER_LINE
from ._response import date_line as _date_line
from ._response import encode_headers as _encode_headers
from ._response import status_line as _status_line
from ._sessions import COOKIE
from ._upgrades import ShadowedError as ShadowedError
from ._upgrades import shadowed as shadowed

if TYPE_CHECKING:
    from ._listener import Server
    from ._options import Options
    from ._req import Req

__all__ = [
    "ClientDisconnected",
    "ShadowedError",
    "Takeover",
    "UpgradeProtocol",
    "asgi_scope",
    "describe",
    "is_async_callable",
    "request_session",
    "save_request_session",
    "shadowed",
    "switch_protocols",
]


class UpgradeProtocol(Protocol):
    """What `upgrades={token: protocol}` takes: an object that serves the
    connections whose request asks to upgrade to `token`.

    `setup()` runs when a server using it starts, in the starting process
    (a node-wide helper can be started there). `serve` and `serve_asgi`
    run in the connection process, outside the request loop; they answer
    the request (an `HttpError` raised before `switch_protocols` is
    answered as its status) and return when the connection is over. The
    protocol must pickle, for `workers=N`."""

    @property
    def handles_loop(self) -> bool:
        """Whether it serves a misultin server, having a handler of its own."""
        ...

    def setup(self) -> None: ...

    async def serve(self, req: Req) -> None: ...

    async def serve_asgi(self, req: Req, app: Any, scope: dict[str, Any]) -> None: ...


class Takeover:
    """A connection handed over to another protocol after a 101."""

    __slots__ = ("_server", "leftover", "stream")

    def __init__(self, server: Server, stream: trio.abc.Stream, leftover: bytes) -> None:
        self._server = server
        self.stream = stream
        self.leftover = leftover  # sent by the client after the request head

    @property
    def options(self) -> Options:
        """The validated options of the server the connection came to."""
        return self._server.options

    @property
    def listener(self) -> actors.Pid:
        """The server's listener process: when it exits, the server stops."""
        pid = self._server.pid
        assert pid is not None
        return pid

    async def session(self, req: Req) -> tuple[str, Any] | None:
        """(id, state) of the HTTP session `req` carries, if it is valid."""
        return await request_session(req)

    async def save_session(self, req: Req, session_id: str, state: Any) -> None:
        """Store `state` for `req`'s session; ValueError if the id is unknown."""
        await save_request_session(req, session_id, state)


async def request_session(req: Req) -> tuple[str, Any] | None:
    """(id, state) of the HTTP session `req` carries, if it is valid, from
    the sessions of the server that received it."""
    found: tuple[str, Any] | None = await req._conn.server.sessions.load(
        req.cookies.get(COOKIE), req.peer[0]
    )
    return found


async def save_request_session(req: Req, session_id: str, state: Any) -> None:
    """Store `state` for `req`'s session, in the sessions of the server that
    received it; ValueError if the id is unknown."""
    await req._conn.server.sessions.save(session_id, state, req.peer[0])


async def switch_protocols(req: Req, headers: Mapping[str, str]) -> Takeover:
    """Answer `req` with 101 and `headers`; hand its connection over.

    Raises ResponseError if a response was already started.
    """
    if req.started:
        raise ResponseError("cannot switch protocols: the response was already sent")
    extra, _ = _encode_headers(headers)
    conn = req._conn
    head = b"".join([_status_line(101), *extra, SERVER_LINE, _date_line(), b"\r\n"])
    req._mark_answered(101)
    parser = conn.parser
    leftover = parser.leftover() if parser is not None else b""
    conn.parser = None  # HTTP is over: its parser is not kept
    if not conn.upgraded:  # (counted once, as connection_main uncounts it)
        conn.upgraded = True
        conn.server.switched += 1  # one fd for good: no file, no body on disk
    req._kept()
    # Straight to a plain socket when it takes it all (it does, but for a
    # client that reads nothing), as every response is written; else under
    # send_timeout, as those are.
    if not await conn._send(head):
        raise trio.BrokenResourceError("the client took none of the 101 within send_timeout")
    return Takeover(conn.server, conn.stream, leftover)
