"""The reader: the connection process after the upgrade, and the owner of
the socket.

A helper task (`_frames`) reads frames and turns them into messages for
the handler, reading no more while the handler has `ws_max_pending`
waiting. The process's own task (`_Reader.run`) traps exits and decides
everything else from its mailbox: the closing handshake (whoever starts
it), failing the connection, pings for silent sockets, and the ends of the
handler, the writer and the listener. Every close frame goes out through
the writer, behind what was already queued, so nothing sent before it is
lost. However the socket ends, `serve_websocket` releases it last.

Failing the connection (RFC 6455 section 7.1.7) happens in `_Reader.fail`
alone: nothing more reaches the handler, the close frame goes out, the
sending side is shut, and what the peer still sends is read and dropped
(bounded in bytes and time) so that it reads the close code rather than a
reset.
"""

from __future__ import annotations

import math
from collections import deque
from typing import TYPE_CHECKING, Any, Final

import trio

import actors
import actors.lowlevel
from httpserver.lowlevel import switch_protocols

from . import _close_codes as close_codes
from ._frames import ping_frame
from ._handshake import negotiate
from ._inbound import FAIL, PING, Inbound, InboundFactory
from ._socket import Socket
from ._writer import writer_main
from ._ws import Ws, by_handler

if TYPE_CHECKING:
    from httpserver import Options, Req

__all__ = ["serve_websocket"]

CLOSE_TIMEOUT: Final = 5.0  # how long a closing handshake (or a drain) may take
HANDLER_GRACE: Final = 1.0  # how long a closing socket waits for its handler
RECV_SIZE: Final = 65536
DEFLATE_RECV_SIZE: Final = 4096  # inflates to 4 MiB at most between checkpoints
EVENTS_PER_CHECKPOINT: Final = 256  # frames parsed before other tasks get a turn


async def serve_websocket(options: Options, make_inbound: InboundFactory, req: Req) -> None:
    """Complete the handshake on `req`'s connection, then serve the socket
    until it ends. Runs in the connection process; `make_inbound` is the
    protocol backend the `ws` option chose (`_inbound.py`)."""
    handshake = negotiate(req, options)
    takeover = await switch_protocols(req, handshake.headers)
    inbound = make_inbound(
        options.ws_max_message, options.ws_max_fragments, handshake.deflate, takeover.leftover
    )
    sock = Socket(takeover.stream, handshake.deflate, options.ws_max_queue)
    ws = sock.handle = Ws(sock, req, takeover, handshake.subprotocol)
    assert options.ws_loop is not None
    actors.trap_exits()
    try:
        sock.writer = actors.spawn(writer_main, sock, link=True)
        sock.handler = ws._handler = actors.spawn(options.ws_loop, ws, link=True)
        by_handler[sock.handler] = ws
        reason = await _Reader(sock, inbound, options, takeover.listener).run()
    finally:
        if sock.handler is not None:
            by_handler.pop(sock.handler, None)
        sock.release()
    if reason != "normal":
        raise actors.ProcessExit(reason)


class _Reader:
    """The reader's state: who closed, what is pending at the handler."""

    __slots__ = (
        "deadline",
        "drained",
        "ended",
        "failing",
        "got_close",
        "handler_told",
        "listener",
        "options",
        "pause_scope",
        "ping_sent_at",
        "reading",
        "reason",
        "sent_close",
        "sizes",
        "sizes_total",
        "sock",
        "stream_in",
    )

    def __init__(
        self,
        sock: Socket,
        stream_in: Inbound,
        options: Options,
        listener: actors.Pid,
    ) -> None:
        self.sock = sock
        self.stream_in = stream_in
        self.options = options
        self.listener = listener
        self.sent_close = False  # our close frame is on the wire
        self.got_close = False  # the peer's close frame came (or we wait for none)
        self.failing = False
        self.drained = False  # failing: the peer closed its side, or sent too much
        self.ended = False
        self.reading = "reading"  # then "draining" or "done"
        self.deadline = math.inf  # for the closing handshake
        self.ping_sent_at: float | None = None
        self.pause_scope: trio.CancelScope | None = None  # not reading: the handler has enough
        self.handler_told = False
        self.reason: Any = "normal"  # the reader's own exit reason
        self.sizes: deque[int] | None = None  # of the messages handed over, newest last
        self.sizes_total = 0

    async def run(self) -> Any:
        """Serve the socket until it ends; return the reader's exit reason.

        The mailbox loop waits here, not in a method of its own: a coroutine
        frame less for every idle socket."""
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._frames)
            try:
                while not self._done():
                    try:
                        msg = await actors.receive(timeout=self._timeout())
                    except actors.ReceiveTimeout:
                        await self._on_timeout()
                    else:
                        await self._on_message(msg)
                self._tell_handler()
            finally:
                nursery.cancel_scope.cancel()
        return self.reason

    async def _on_message(self, msg: Any) -> None:
        """What the reader's mailbox says: from the frame task, the writer,
        and the exits of the handler, the writer and the listener."""
        sock = self.sock
        match msg:
            case ("$peer_closed", code):
                self.got_close = True
                await self._grace()
                self._tell_handler()
                # Answer with the peer's code, as RFC 6455 section 5.5.1 suggests.
                sock.close(1000 if code in (1005, None) else code)
                self._start_deadline()
            case ("$fail", code, why):
                await self.fail((code, why))
            case ("$overflow",):
                await self.fail(close_codes.CLIENT_NOT_READING, grace=False)
            case ("$eof",):
                self.ended = True
            case ("$close_sent",):
                self.sent_close = True
                self._start_deadline()
                if self.failing:
                    await self._shut_sending_side()
            case ("$drained",):
                self.drained = True
            case actors.Exit(pid, reason) if pid == sock.handler:
                self.handler_told = True
                sock.close(*close_codes.for_handler_exit(reason))
                self._start_deadline()
            case actors.Exit(pid, reason) if pid == sock.writer:
                if not (actors.lowlevel.is_normal_exit(reason) and self.sent_close):
                    self.ended = True  # the writer could not write: the socket is gone
            case actors.Exit(pid, reason) if pid == self.listener:
                self.reason = reason
                self._tell_handler()
                sock.close(*close_codes.GOING_AWAY)
                self._start_deadline()
            case _:
                pass

    # -- frames in ---------------------------------------------------------------

    async def _frames(self) -> None:
        """The frame task: frames in, ("browser", data) out, until the socket
        closes or fails; when failing (found here, or told by `fail` through
        `self.failing`), it drains. One coroutine frame and no cancel scope
        of its own while it reads: idle sockets are many."""
        sock = self.sock
        stream_in = self.stream_in
        stream = sock.stream
        handler = sock.handler
        max_messages, max_bytes = self.options.ws_max_pending
        recv_size = DEFLATE_RECV_SIZE if sock.compressed else RECV_SIZE
        parsed = 0
        end: tuple[Any, ...] | None = None
        while end is None:
            for event in stream_in.events():
                if self.failing:
                    break
                kind = type(event)
                if kind is str or kind is bytes:
                    actors.send(handler, ("browser", event))
                    size = stream_in.size
                    sizes = self.sizes
                    if sizes is None:  # made on the first message: idle sockets are many
                        sizes = self.sizes = deque()
                    sizes.append(size)
                    self.sizes_total += size
                    if len(sizes) >= max_messages or self.sizes_total >= max_bytes:
                        await self._room_at_handler()
                elif event[0] == PING:
                    sock.answer_ping(event[1])
                else:
                    end = ("$fail", *event[1:]) if event[0] == FAIL else ("$peer_closed", event[1])
                    break
                parsed += 1
                if parsed >= EVENTS_PER_CHECKPOINT:
                    parsed = 0
                    await trio.lowlevel.checkpoint()
            if end is not None or self.failing:
                break
            try:
                data = await stream.receive_some(recv_size)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                data = b""
            if self._failed_meanwhile():
                break
            if not data:
                end = ("$eof",)
                break
            sock.last_seen = trio.current_time()
            stream_in.receive_data(data)
        if end is not None:
            actors.send(sock.reader, end)
            if end[0] != "$fail":
                self.reading = "done"  # the peer closed, or went away
                return
        self.reading = "draining"
        await self._drain()
        self.reading = "done"
        actors.send(sock.reader, ("$drained",))

    def _failed_meanwhile(self) -> bool:
        """Whether `fail` ran while the frame task awaited (a method: type
        checkers take an attribute read before an await as still true)."""
        return self.failing

    async def _room_at_handler(self) -> None:
        """Wait while the handler has `ws_max_pending` messages or bytes
        waiting (one message alone always goes through): nothing more is
        read from the socket meanwhile, and TCP slows the client down.

        The sizes of the messages handed over are kept newest last, and
        trimmed to the handler's mailbox length: exact when the handler
        takes them in order, and never an underestimate."""
        handler = self.sock.handler
        assert handler is not None
        max_messages, max_bytes = self.options.ws_max_pending
        sizes = self.sizes
        assert sizes is not None
        while True:
            waiting = actors.lowlevel.mailbox_len(handler)
            while len(sizes) > waiting:
                self.sizes_total -= sizes.popleft()
            if waiting == 0 or (waiting < max_messages and self.sizes_total < max_bytes):
                return
            with trio.CancelScope() as self.pause_scope:  # `fail` cancels it
                await actors.lowlevel.wait_mailbox_below(handler, waiting)
            self.pause_scope = None
            if self.failing:
                return

    async def _drain(self) -> None:
        """Read and drop what the peer still sends, until it closes its side
        or twice the largest message went by: a peer in the middle of a
        message that was refused at its header still has that much to send."""
        stream = self.sock.stream
        budget = 2 * self.options.ws_max_message
        while budget > 0:
            try:
                data = await stream.receive_some(RECV_SIZE)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                return
            if not data:
                return
            budget -= len(data)

    # -- the mailbox ---------------------------------------------------------------

    def _done(self) -> bool:
        if self.ended:
            return True
        return self.sent_close and self.got_close and (self.drained or not self.failing)

    async def fail(self, why: tuple[int, str], grace: bool = True) -> None:
        """Fail the connection with close code and reason `why`: the one
        place a socket is failed (RFC 6455 section 7.1.7)."""
        if self.failing or self.ended:
            return
        self.failing = True
        self.got_close = True  # a failed connection waits for no close frame
        if self.pause_scope is not None:
            self.pause_scope.cancel()  # the frame task drains now, delivering nothing
        self.drained = self.reading == "done"
        if grace:
            await self._grace()
        self._tell_handler()
        self.sock.close(*why)  # after an overflow the writer has it already
        self._start_deadline()

    async def _shut_sending_side(self) -> None:
        """After a failing close frame: FIN, so the peer sees the close."""
        stream = self.sock.stream
        if isinstance(stream, trio.SocketStream):
            try:
                await stream.send_eof()
            except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
                self.ended = True

    async def _grace(self) -> None:
        """Let the handler answer the messages it already has (bounded), so
        its answers go out before the close frame. Waits for an event."""
        handler = self.sock.handler
        if handler is None or self.handler_told:
            return
        with trio.move_on_after(HANDLER_GRACE):
            await actors.lowlevel.wait_idle(handler)

    def _tell_handler(self) -> None:
        """The socket is closing: end the handler ("normal") with
        ws_autoexit, or send it "closed"."""
        if self.handler_told:
            return
        self.handler_told = True
        handler = self.sock.handler
        assert handler is not None
        if self.options.ws_autoexit:
            actors.lowlevel.end_process(handler, "normal")
        else:
            actors.send(handler, "closed")

    def _start_deadline(self) -> None:
        if self.deadline == math.inf:
            self.deadline = trio.current_time() + CLOSE_TIMEOUT

    # -- timers --------------------------------------------------------------------

    def _timeout(self) -> float:
        now = trio.current_time()
        if self.deadline != math.inf:
            return max(0.0, self.deadline - now)
        if self.ping_sent_at is not None:
            return max(0.0, self.ping_sent_at + self.options.ws_ping_timeout - now)
        return max(0.0, self.sock.last_seen + self.options.ws_ping_interval - now)

    async def _on_timeout(self) -> None:
        now = trio.current_time()
        sock = self.sock
        if self.deadline != math.inf:
            self.ended = now >= self.deadline  # the closing handshake took too long
            return
        if sock.writing and now - sock.write_since >= self.options.ws_ping_timeout:
            # The client takes none of what we send (it may well send us
            # frames meanwhile): as HTTP's send_timeout, it is not reading.
            await self.fail(close_codes.CLIENT_NOT_READING, grace=False)
            return
        if self.pause_scope is not None:  # we are not reading: the silence is ours
            sock.last_seen = now
            self.ping_sent_at = None
            return
        if self.ping_sent_at is not None:
            if sock.last_seen >= self.ping_sent_at:
                self.ping_sent_at = None  # the peer answered
            elif now >= self.ping_sent_at + self.options.ws_ping_timeout:
                await self.fail(close_codes.PING_TIMEOUT, grace=False)
            return
        if now >= sock.last_seen + self.options.ws_ping_interval and sock.open:
            self.ping_sent_at = now
            sock.to_writer(ping_frame(b"trio-misultin"))
