"""The state of one open WebSocket, owned by its reader (the connection
process): the stream, the bytes waiting at the writer, the close state.

Handlers never touch it directly: they hold a `Ws`, which points here until
the socket is released. Every way a socket ends goes through `release`,
after which no send can reach the stream, whatever handle or list of
handles a process kept: the file descriptor number may already belong to
another client.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Final

import trio
from wsproto.frame_protocol import FrameProtocol

import actors
import actors.lowlevel

from . import _close_codes as close_codes
from ._frames import TEXT_HEADERS, close_frame, frame, pong_frame, text_frame

if TYPE_CHECKING:
    from ._limits import BoundedDeflate
    from ._ws import Ws

__all__ = ["CLOSE", "MAX_CORKED", "MAX_PONGS", "PONG", "Socket"]

PONG: Final = ("$pong",)
"""To the writer: send the pongs `Socket.pongs` holds now (see `answer_ping`)."""

CLOSE: Final = "$close"
"""To the writer, as (CLOSE, bytes): the close frame (or what is left of
it), after everything queued before it; nothing goes out after it."""

MAX_CORKED: Final = 1024
"""Frames held for one write at most: past it they go out at once."""

MAX_PONGS: Final = 16
"""Pongs waiting at the writer, at most: past it, the newest replaces the last."""


class Socket:
    """One open WebSocket, as its three processes share it."""

    __slots__ = (
        "_fd",
        "_outbound",
        "close_info",
        "corked",
        "handle",
        "handler",
        "last_seen",
        "max_queue",
        "open",
        "pongs",
        "purge",
        "queued",
        "reader",
        "released",
        "stream",
        "write_since",
        "writer",
        "writing",
    )

    def __init__(
        self, stream: trio.abc.Stream, deflate: BoundedDeflate | None, max_queue: int
    ) -> None:
        self.stream = stream
        # A plain TCP socket is written at once when nothing waits (no task hop).
        self._fd = stream.socket.fileno() if type(stream) is trio.SocketStream else -1
        self._outbound = FrameProtocol(False, [deflate]) if deflate is not None else None
        self.max_queue = max_queue
        self.queued = 0  # bytes handed to the writer and not yet written
        self.writing = False  # the writer is in the middle of a write
        self.write_since = 0.0  # when that write began
        self.open = True  # no close started yet, by either side
        self.purge = False  # the writer drops what is queued (overflow)
        self.released = False
        self.pongs: list[bytes] | None = None  # payloads of pongs waiting at the writer
        self.corked: list[bytes] | None = None  # frames held for one write (broadcast)
        self.reader: actors.Pid = actors.self()
        self.writer: actors.Pid | None = None
        self.handler: actors.Pid | None = None
        self.handle: Ws | None = None
        self.last_seen = trio.current_time()
        # How the socket ended, once it has: (code, reason) of the peer's
        # close, of the server's failure or going away; None if the
        # connection dropped (ASGI's websocket.disconnect then says 1006).
        self.close_info: tuple[int, str] | None = None

    @property
    def compressed(self) -> bool:
        return self._outbound is not None

    # -- sending (from any process) ----------------------------------------------

    def send(self, data: str | bytes) -> None:
        """Frame `data` (compressed, with permessage-deflate) and send it."""
        if not self.open:
            return
        outbound = self._outbound
        if outbound is not None:
            self.push(bytes(outbound.send_data(data)))
            return
        if type(data) is str:
            payload = data.encode()  # `frame`, written out for the commonest message
            size = len(payload)
            payload = TEXT_HEADERS[size] + payload if size < 126 else text_frame(payload)
        else:
            payload = frame(data)
        # `push`, written out for the common case (a call less a message).
        if (
            self.corked is None
            and self.queued == 0
            and self._fd >= 0
            and not self.writing
            and self.pongs is None
        ):
            try:
                written = os.write(self._fd, payload)
            except OSError:  # full (BlockingIOError), or broken: the reader sees it
                written = 0
            if written != len(payload):
                self.to_writer(payload[written:])
            return
        self.push(payload)

    def push(self, payload: bytes) -> None:
        """Send framed bytes: straight to the socket when the writer has
        nothing queued (pongs included) and is not writing, else behind."""
        if not self.open:
            return
        corked = self.corked
        if corked is not None:  # behind the broadcast frames held for one write
            corked.append(payload)
            if len(corked) >= MAX_CORKED:
                self.uncork()
            return
        if self.queued == 0 and self._fd >= 0 and not self.writing and self.pongs is None:
            try:
                written = os.write(self._fd, payload)
            except OSError:  # full (BlockingIOError), or broken: the reader sees it
                written = 0
            if written == len(payload):
                return
            payload = payload[written:]
        self.to_writer(payload)

    def to_writer(self, payload: bytes) -> None:
        """Queue bytes at the writer, counted against ws_max_queue (one
        message alone is always taken); past it the socket closes, 1008."""
        queued = self.queued
        if queued and queued + len(payload) > self.max_queue:
            if self.open:  # what is queued is dropped; the close goes out alone
                self.open = False
                self.purge = True
                self._tell_writer((CLOSE, close_frame(*close_codes.CLIENT_NOT_READING)))
                actors.send(self.reader, ("$overflow",))
            return
        self.queued = queued + len(payload)
        self._tell_writer(payload)

    def _tell_writer(self, msg: Any) -> None:
        """Send `msg` to the writer process, which the socket's opening
        spawned with the handler (DESIGN: reader, handler and writer,
        linked)."""
        writer = self.writer
        assert writer is not None, "a socket sends only once it is open"
        actors.send(writer, msg)

    def _idle(self) -> bool:
        """Whether bytes may go straight to the socket: a plain one, with
        nothing queued at the writer (pongs included) and no write under way."""
        return self.queued == 0 and self._fd >= 0 and not self.writing and self.pongs is None

    def _write_now(self, payload: bytes) -> bytes:
        """Write what the non-blocking socket takes now; what is left."""
        try:
            written = os.write(self._fd, payload)
        except OSError:  # full (BlockingIOError), or broken: the reader sees it
            written = 0
        return payload[written:] if written else payload

    def answer_ping(self, payload: bytes) -> None:
        """Queue a pong. At most MAX_PONGS wait at the writer; past that a
        later ping's payload replaces the last, as RFC 6455 section 5.5.3
        allows, so a client that pings and never reads costs no memory."""
        if not self.open:
            return
        pongs = self.pongs
        if pongs is None:
            if self.corked is None and self._idle():  # at once, as `push` would
                rest = self._write_now(pong_frame(payload))
                if rest:
                    self.to_writer(rest)
                return
            self.pongs = [payload]
            self._tell_writer(PONG)
        elif len(pongs) < MAX_PONGS:
            pongs.append(payload)
        else:
            pongs[-1] = payload

    def uncork(self) -> None:
        """Send the frames held since the first broadcast of this turn, as
        one write (`_broadcast.py`)."""
        corked = self.corked
        if corked is not None:
            self.corked = None
            if corked:
                self.push(corked[0] if len(corked) == 1 else b"".join(corked))

    def close(self, code: int, reason: str = "") -> None:
        """Start the closing handshake, behind what is already queued."""
        if self.open:
            self.uncork()
            self.open = False
            data = close_frame(code, reason)
            if self._idle():  # at once: the reader hears it as from the writer
                data = self._write_now(data)
                if not data:
                    actors.send(self.reader, ("$close_sent",))
                    return
            self._tell_writer((CLOSE, data))

    # -- the end ---------------------------------------------------------------------

    def release(self) -> None:
        """The socket is over: no handle reaches it any more, the writer
        ends, and nothing will touch the stream but its closing."""
        if self.released:
            return
        self.released = True
        self.open = False
        self.corked = None
        self._fd = -1
        if self.handle is not None:
            self.handle._sock = None
        if self.writer is not None:
            actors.lowlevel.end_process(self.writer, "normal")
