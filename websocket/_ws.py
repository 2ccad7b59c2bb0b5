"""`Ws`: one WebSocket as its handler sees it, and the state its three
processes (reader, handler, writer) share.

`send` is sync and never blocks. It frames the message once; when nothing
waits at the writer and the socket is plain TCP, it writes the frame to the
non-blocking socket at once (no task hop); whatever the kernel does not take
goes to the writer process, behind anything already queued, so order holds.
The bytes queued at the writer are bounded by `ws_max_queue` (one message
alone is always taken): past it the socket is closed with 1008, and
nothing more is queued.
"""

from __future__ import annotations

import math
import os
from typing import TYPE_CHECKING, Any

import trio
from wsproto.connection import Connection
from wsproto.events import BytesMessage, TextMessage

import actors

from ._frames import frame

if TYPE_CHECKING:
    from httpserver import Options, Req
    from httpserver._connection import Connection as HttpConnection

    from ._handshake import Handshake

__all__ = ["Ws"]


class Ws:
    """One WebSocket. Its handler gets `("browser", data)` messages and
    answers with `send`; `pid` is the handler's Pid."""

    __slots__ = (
        "_conn",
        "_deflate",
        "_fd",
        "_max_queue",
        "_open",
        "_purge",
        "_queued",
        "_req",
        "_wsconn",
        "handler",
        "last_seen",
        "reader",
        "subprotocol",
        "writer",
    )

    def __init__(
        self,
        req: Req,
        conn: HttpConnection,
        wsconn: Connection,
        handshake: Handshake,
        options: Options,
    ) -> None:
        self._req = req
        self._conn = conn
        self._wsconn = wsconn
        self._deflate = handshake.deflate is not None
        self.subprotocol: str | None = handshake.subprotocol
        self._max_queue = options.ws_max_queue
        self._queued = 0  # bytes handed to the writer and not yet written
        stream = conn.stream
        self._fd = stream.socket.fileno() if isinstance(stream, trio.SocketStream) else -1
        self._open = True  # no close started yet, by either side
        self._purge = False  # the writer drops what is queued (overflow)
        self.reader: actors.Pid = conn.pid
        self.writer: actors.Pid | None = None
        self.handler: actors.Pid | None = None
        self.last_seen = trio.current_time()

    def __repr__(self) -> str:
        return f"<Ws {self.path} from {self.peer[0]} handler={self.handler!r}>"

    # -- sending -----------------------------------------------------------------

    def send(self, data: str | bytes) -> None:
        """Send a message: str as a text frame, bytes as binary. Never blocks;
        after a close it is dropped."""
        if not self._open:
            return
        if self._deflate:
            event = TextMessage(data=data) if isinstance(data, str) else BytesMessage(data=data)
            self.push(self._wsconn.send(event))
        else:
            self.push(frame(data))

    def push(self, payload: bytes) -> None:
        """Send framed bytes: straight to the socket if nothing is queued,
        else behind the queue at the writer."""
        if self._queued == 0 and self._fd >= 0:
            try:
                written = os.write(self._fd, payload)
            except BlockingIOError:
                written = 0
            except OSError:
                written = 0  # broken: the reader sees it and ends the socket
            if written == len(payload):
                return
            payload = payload[written:]
        self.to_writer(payload)

    def to_writer(self, payload: bytes) -> None:
        """Queue bytes at the writer (counted against ws_max_queue)."""
        queued = self._queued
        if queued and queued + len(payload) > self._max_queue:
            self._overflow()  # one message alone is always taken
            return
        self._queued = queued + len(payload)
        assert self.writer is not None
        actors.send(self.writer, payload)

    def _overflow(self) -> None:
        """The peer stopped reading: queue nothing more, close with 1008."""
        if self._open:
            self._open = False
            self._purge = True
            actors.send(self.reader, ("$overflow",))

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Start the closing handshake, after what is already queued."""
        if self._open:
            self._open = False
            assert self.writer is not None
            actors.send(self.writer, ("$close", code, reason))

    @property
    def is_open(self) -> bool:
        """Whether messages sent now can still go out."""
        return self._open

    @property
    def queued(self) -> int:
        """Bytes waiting at the writer."""
        return self._queued

    # -- the upgrade request ----------------------------------------------------------

    @property
    def pid(self) -> actors.Pid:
        """The handler process's Pid."""
        assert self.handler is not None
        return self.handler

    @property
    def peer(self) -> tuple[str, int]:
        """The client's address (X-Real-Ip / X-Forwarded-For aware)."""
        return self._req.peer

    @property
    def path(self) -> str:
        return self._req.path

    @property
    def query(self) -> str:
        """The upgrade request's raw query string (after `?`), or ""."""
        return self._req.query

    @property
    def headers(self) -> Any:
        """The upgrade request's headers (httpserver.Headers)."""
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
        from httpserver._sessions import COOKIE

        sessions = self._conn.server.sessions
        session_id = self._req.cookies.get(COOKIE)
        found = sessions.lookup(session_id, self.peer[0])
        if found is None or session_id is None:
            raise LookupError("this WebSocket's request has no HTTP session")
        return session_id, found.state

    async def save_session_state(self, session_id: str, state: Any) -> None:
        """Store `state` for the session; ValueError if the id is unknown."""
        await self._conn.server.sessions.save(session_id, state, self.peer[0])


# Sockets by handler Pid, for broadcast to a process group of handlers.
by_handler: dict[actors.Pid, Ws] = {}

NO_DEADLINE = math.inf
