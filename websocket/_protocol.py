"""The WebSocket upgrade protocol: what httpserver hands an upgrade request to.

`websocket.protocol(ws_loop, **ws_options)` checks the `ws_*` options and
builds it; a server takes it as `upgrades={"websocket": protocol}`, and
misultin's `start(loop=..., ws_loop=...)` builds it through the entry point
this package declares (httpserver imports nothing of this package). It
serves both interfaces: a misultin server's sockets run `ws_loop(ws)`, an
ASGI server's run the app's websocket scope (`_asgi.py`); either way the
same reader, writer, limits, close codes and back-pressure.
"""

from __future__ import annotations

from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any, Unpack

from httpserver import HttpError
from httpserver.lowlevel import describe

from ._inbound import backend
from ._options import HELP, TABLE, WsOptions

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from httpserver import Req

    from ._inbound import InboundFactory
    from ._protocol_options import ProtocolOptions
    from ._ws import Ws

__all__ = ["WebSocketProtocol", "protocol"]


_open_websocket: Callable[[WsOptions, InboundFactory, Req], Coroutine[Any, Any, None]] | None = None
"""`_reader.open_websocket`, once the first upgrade imported it: `import
websocket` leaves the reader (and its imports) out, and a `from` import in
`serve` cost each upgrade an AttributeError (the module's `__path__`)."""


def _import_reader() -> Callable[[WsOptions, InboundFactory, Req], Coroutine[Any, Any, None]]:
    global _open_websocket
    from ._reader import open_websocket

    _open_websocket = open_websocket
    return open_websocket


class WebSocketProtocol:
    """The WebSocket protocol of one or more servers (an
    `httpserver.lowlevel.UpgradeProtocol`)."""

    __slots__ = ("kind", "make_inbound", "options")

    def __init__(self, options: WsOptions) -> None:
        self.options = options
        self.kind, self.make_inbound = backend(options.ws)  # "wsproto" or "websockets"

    def __repr__(self) -> str:
        handler = describe(self.options.ws_loop) if self.options.ws_loop else None
        return f"websocket.protocol(ws_loop={handler}, ws={self.kind!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (WebSocketProtocol, (self.options,))

    @property
    def handles_loop(self) -> bool:
        return self.options.ws_loop is not None

    def setup(self) -> None:
        """At a server's start, in its node: the broadcast fan-out (in a
        cluster) and the "websockets" count and probe of the observer."""
        from . import _observe
        from ._broadcast import ensure_fanout

        ensure_fanout()
        _observe.register()

    def serve(self, req: Req) -> Coroutine[Any, Any, None]:
        """A misultin server's upgrade: the socket's handler is `ws_loop`.
        (Not a coroutine itself but the one to await: a frame less on the
        stack of every idle socket.)"""
        if self.options.ws_loop is None:
            raise HttpError(404, b"<h1>404 Not Found</h1>\r\nno WebSocket handler here")
        return (_open_websocket or _import_reader())(self.options, self.make_inbound, req)

    async def serve_asgi(self, req: Req, app: Any, scope: dict[str, Any]) -> None:
        """An ASGI server's upgrade: the app's websocket scope."""
        from ._asgi import serve_asgi_websocket

        await serve_asgi_websocket(self.options, self.make_inbound, req, app, scope)


class _Factory:
    """`websocket.protocol(ws_loop=None, **ws_options)`: the WebSocket
    upgrade protocol for `httpserver.start(upgrades={"websocket": ...})`.
    Options: `ProtocolOptions` (the WebSockets guide says what each means;
    `options_table` is what they are checked against); a bad one raises
    TypeError or ValueError naming it. Without `ws_loop` it serves only an
    ASGI app's websocket scope."""

    options_table = TABLE  # read by httpserver's shorthand and command line
    options_help = HELP  # ... and what each is for, by its --help

    def __call__(
        self,
        ws_loop: Callable[[Ws], Awaitable[object]] | None = None,
        /,
        **options: Unpack[ProtocolOptions],
    ) -> WebSocketProtocol:
        given: dict[str, Any] = dict(options)
        if ws_loop is not None:
            if "ws_loop" in given:
                raise TypeError("ws_loop given twice")
            given["ws_loop"] = ws_loop
        return WebSocketProtocol(WsOptions.of(given))

    def __repr__(self) -> str:
        return "websocket.protocol"


protocol = _Factory()
"""`protocol(ws_loop=None, /, **options)`: the WebSocket upgrade protocol a
server takes as `upgrades={"websocket": protocol(handle_ws)}` (what
`start(ws_loop=...)` builds through the entry point). Its options are
`ProtocolOptions`, each checked as `start` checks its own (TypeError or
ValueError naming a bad one); without `ws_loop` it serves only an ASGI
app's websocket scope."""
