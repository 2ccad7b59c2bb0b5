"""`Ws`: one WebSocket as its handler (and anyone it hands it to) sees it.

A handle, not the socket: it points to the socket's state, owned by the
reader, only while the socket is open. Once the socket ends, however it
ends, the handle is cut off: `send` and `close` are then dropped, and
what describes the upgrade request (`path`, `headers`, `peer`...) stays.

`send` is sync and never blocks. It frames the message once; when nothing
waits at the writer and the socket is plain TCP, it writes the frame to the
non-blocking socket at once (no task hop); whatever the kernel does not take
goes to the writer process, behind anything already queued, so order holds.
The bytes queued at the writer are bounded by `ws_max_queue` (one message
alone is always taken): past it the socket is closed with 1008.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import actors
from httpserver.lowlevel import request_session, save_request_session

if TYPE_CHECKING:
    from httpserver import Headers, Req

    from ._socket import Socket

__all__ = ["Ws", "by_handler"]


class Ws:
    """One WebSocket. Its handler gets `("browser", data)` messages and
    answers with `send`; `pid` is the handler's Pid."""

    __slots__ = ("_handler", "_req", "_sock", "subprotocol")

    def __init__(self, sock: Socket, req: Req, subprotocol: str | None) -> None:
        self._sock: Socket | None = sock
        self._req = req  # answered: read-only from here on (and it reaches the sessions)
        self._handler: actors.Pid | None = None
        self.subprotocol = subprotocol

    def __repr__(self) -> str:
        state = "open" if self.is_open else "closed"
        return f"<Ws {self.path} from {self.peer[0]} handler={self._handler!r} {state}>"

    # -- sending -----------------------------------------------------------------

    def send(self, data: str | bytes) -> None:
        """Send a message: str as a text frame, bytes as binary. Never blocks;
        once the socket is closing or closed it is dropped."""
        sock = self._sock
        if sock is not None:
            sock.send(data)

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Start the closing handshake, after what is already queued."""
        sock = self._sock
        if sock is not None:
            sock.close(code, reason)

    @property
    def is_open(self) -> bool:
        """Whether messages sent now can still go out."""
        sock = self._sock
        return sock is not None and sock.open

    @property
    def queued(self) -> int:
        """Bytes waiting at the writer."""
        sock = self._sock
        return sock.queued if sock is not None else 0

    @property
    def compressed(self) -> bool:
        """Whether permessage-deflate was agreed."""
        sock = self._sock
        return sock is not None and sock.compressed

    # -- the upgrade request ----------------------------------------------------------

    @property
    def pid(self) -> actors.Pid:
        """The handler process's Pid."""
        assert self._handler is not None
        return self._handler

    @property
    def peer(self) -> tuple[str, int]:
        """The client's address, as `Req.peer` gives it."""
        return self._req.peer

    @property
    def path(self) -> str:
        return self._req.path

    @property
    def query(self) -> str:
        """The upgrade request's raw query string (after `?`), or ""."""
        return self._req.query

    @property
    def headers(self) -> Headers:
        """The upgrade request's headers."""
        return self._req.headers

    @property
    def origin(self) -> str | None:
        return self._req.headers.get("origin")

    @property
    def host(self) -> str | None:
        return self._req.headers.get("host")

    @property
    def cookies(self) -> dict[str, str]:
        return self._req.cookies

    async def session(self) -> tuple[str, Any]:
        """(id, state) of the HTTP session of the upgrade request. A socket
        cannot set cookies: without a session, LookupError."""
        found = await request_session(self._req)
        if found is None:
            raise LookupError("this WebSocket's request has no HTTP session")
        return found

    async def save_session_state(self, session_id: str, state: Any) -> None:
        """Store `state` for the session; ValueError if the id is unknown."""
        await save_request_session(self._req, session_id, state)


_BY_HANDLER: actors.lowlevel.NodeVar[dict[actors.Pid, Ws]] = actors.lowlevel.NodeVar(
    "websocket.by_handler"
)


def by_handler() -> dict[actors.Pid, Ws]:
    """The open sockets of the calling process's node by their handler's
    Pid, for a broadcast to a group of handlers (the node's state, not this
    module's: two nodes in one OS process each have theirs)."""
    return _BY_HANDLER.setdefault({})
