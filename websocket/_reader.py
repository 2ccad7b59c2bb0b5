"""The reader: the connection process after the upgrade, and the owner of
the socket. One task, waiting only in its mailbox.

Bytes come as mailbox messages, one notice at a time (`_poller.py`:
Erlang's `{active, once}`), so the same loop hears the socket and
decides everything else: the closing handshake (whoever starts it),
failing the connection, pings for silent sockets, and the ends of the
handler, the writer and the listener (it traps exits). Frames become
("browser", data) messages for the handler; while the handler has
`ws_max_pending` waiting the reader asks for no more bytes, and TCP slows
the client down. Every close frame goes out behind what was already
queued, so nothing sent before it is lost. However the
socket ends, `serve_websocket` releases it last.

On plain TCP the poller's notice is a call (`_Reader.readable`): while
the reader waits in its mailbox with nothing else to do, the bytes are
read and parsed in the poller's task, so a message goes from the socket
to the handler with no hop through the reader's task; whatever that parse
cannot finish (a close, a failure, a long run of frames) it hands to the
reader as a message. The reader's state is touched there only while its
task waits in `receive`, so the two never interleave. If that code raises,
the poller sends the exception back (CRASHED): the socket fails with 1011,
the poller calls none of the reader's code again, and once the socket is
closed the reader crashes with the exception (a crash report).

Failing the connection (RFC 6455 section 7.1.7) happens in `_Reader.fail`
alone: nothing more reaches the handler, the close frame goes out, the
sending side is shut, and what the peer still sends is read and dropped
(bounded in bytes and time) so that it reads the close code rather than a
reset.
"""

from __future__ import annotations

import math
import os
from collections.abc import Awaitable, Callable, Coroutine
from functools import partial
from typing import TYPE_CHECKING, Any, Final

import trio

import actors
import actors.lowlevel
from actors.lowlevel import mailbox_len
from httpserver.lowlevel import switch_protocols

from . import _close_codes as close_codes
from ._frames import ping_frame
from ._handshake import negotiate
from ._inbound import FAIL, NOTHING, PING, Inbound, InboundFactory
from ._poller import (
    HAVE_EPOLL,
    READABLE,
    READABLE_HUP,
    Messenger,
    Poller,
    Pump,
    poller,
    read_now,
)
from ._socket import Socket
from ._writer import writer_main
from ._ws import Ws, by_handler

if TYPE_CHECKING:
    from httpserver import Req
    from httpserver.lowlevel import Takeover

    from ._handshake import Handshake
    from ._options import WsOptions

__all__ = ["open_socket", "open_websocket", "serve_websocket"]

CLOSE_TIMEOUT: Final = 5.0  # how long a closing handshake (or a drain) may take
HANDLER_GRACE: Final = 1.0  # how long a closing socket waits for its handler
RECV_SIZE: Final = 65536
DEFLATE_RECV_SIZE: Final = 4096  # inflates to 4 MiB at most between checkpoints
EVENTS_PER_CHECKPOINT: Final = 256  # frames parsed before other tasks get a turn
READS_PER_NOTICE: Final = 16  # full reads in a row before the poller is asked again
PARSE: Final = ("$parse",)  # to the reader: go on parsing what is buffered (held first)

# What `_Reader._parse_now` stopped at.
_MORE: Final = 0  # the bytes ran out: more are wanted
_PAUSED: Final = 1  # the handler has enough waiting
_HELD: Final = 2  # an event for the reader's task (`held`), or a turn's worth of frames


def open_websocket(
    options: WsOptions, make_inbound: InboundFactory, req: Req
) -> Coroutine[Any, Any, None]:
    """A misultin server's upgrade on `req`'s connection, in the connection
    process: the handshake's checks now (a refusal raises its HttpError at
    once), then the socket's whole life as one coroutine (`serve_websocket`).
    `make_inbound` is the protocol backend the `ws` option chose (`_inbound.py`)."""
    handshake = negotiate(req, options)
    return serve_websocket(_Reader(options), partial(_open, make_inbound, req, handshake))


async def _open(
    make_inbound: InboundFactory, req: Req, handshake: Handshake, reader: _Reader
) -> None:
    """The opening of a misultin socket: the 101, the socket's state, and
    its handler (`ws_loop(ws)`), linked to the reader (the writer comes
    when first needed: `Socket._tell_writer`)."""
    options = reader.options
    assert options.ws_loop is not None
    takeover = await switch_protocols(req, handshake.headers)
    inbound, sock, ws = open_socket(options, make_inbound, req, takeover, handshake)
    reader.attach(sock, inbound, takeover.listener)
    actors.trap_exits()
    sock.writer = actors.spawn(writer_main, sock, link=True)
    sock.handler = ws._handler = actors.spawn(options.ws_loop, ws, link=True)
    by_handler()[sock.handler] = ws


def open_socket(
    options: WsOptions,
    make_inbound: InboundFactory,
    req: Req,
    takeover: Takeover,
    handshake: Handshake,
    subprotocol: str | None = None,
) -> tuple[Inbound, Socket, Ws]:
    """The socket's state after the 101: its protocol layer, its `Socket`
    and the `Ws` handle (`subprotocol`: an ASGI app's choice)."""
    inbound = make_inbound(
        options.ws_max_message, options.ws_max_fragments, handshake.deflate, takeover.leftover
    )
    sock = Socket(takeover.stream, handshake.deflate, options.ws_max_queue)
    ws = sock.handle = Ws(sock, req, subprotocol or handshake.subprotocol)
    return inbound, sock, ws


async def serve_websocket(
    reader: _Reader, opening: Callable[[_Reader], Awaitable[None]] | None = None
) -> None:
    """A socket's whole life, in this one coroutine: `opening(reader)` (the
    101, the socket's state, its writer and handler: its frame goes once it
    is done), then the mailbox loop, then, however the socket ended, its release. The
    loop waits here rather than in a method or a helper of its own: every
    frame on an idle socket's stack costs it some 250 bytes, and idle
    sockets are many. Returns when the socket is over; raises
    ProcessExit with the reader's reason unless "normal", or what our code
    raised in the poller's task (a crash report, once the socket is closed)."""
    try:
        if opening is not None:
            await opening(reader)
            opening = None  # and what it holds (the handshake) is not kept
        if reader.fd < 0 and reader.pump is None:
            # TLS, or no epoll: this same loop, beside a pump task that reads
            # (`_poller.py`); plain TCP is read by the node's poller instead,
            # with no nursery here (its exit method would be kept on the stack).
            sock = reader.sock
            async with trio.open_nursery() as nursery:
                reader.pump = Pump(sock.stream, sock.reader, reader.recv_size)
                nursery.start_soon(reader.pump.run)
                try:
                    await serve_websocket(reader)
                finally:
                    nursery.cancel_scope.cancel()
            return
        if reader.fd >= 0:
            reader.poller = poller()
        # Whatever came with the upgrade request is parsed first.
        if await reader._parse():
            reader._arm()
        while not reader._done():
            reader.parked = True
            try:
                msg = await actors.receive(timeout=reader._timeout())
            except actors.ReceiveTimeout:
                reader.parked = False
                await reader._on_timeout()
            else:
                reader.parked = False
                await reader._on_message(msg)
        reader._tell_handler()
    finally:
        if reader.poller is not None:
            reader.poller.forget(reader.fd)
        if reader.attached:
            sock = reader.sock
            if sock.handler is not None:
                by_handler().pop(sock.handler, None)
            sock.release()
    if reader.crash is not None:  # a bug of ours, in the poller's task: now it is closed
        raise reader.crash
    if reader.reason != "normal":
        raise actors.ProcessExit(reader.reason)


class _Reader:
    """The reader's state: who closed, what is pending at the handler."""

    __slots__ = (
        "armed",
        "attached",
        "crash",
        "deadline",
        "drain_budget",
        "drained",
        "ended",
        "failing",
        "fd",
        "got_close",
        "handler_told",
        "held",
        "hup",
        "listener",
        "messenger",
        "options",
        "parked",
        "paused",
        "ping_sent_at",
        "poller",
        "pump",
        "reading",
        "reason",
        "recv_size",
        "sent_close",
        "sizes",
        "sizes_total",
        "sock",
        "stream_in",
        "unread",
    )

    sock: Socket  # these three once attached
    stream_in: Inbound
    listener: actors.Pid

    def __init__(self, options: WsOptions) -> None:
        self.options = options
        self.attached = False  # the socket's state is here (`attach`)
        self.sent_close = False  # our close frame is on the wire
        self.got_close = False  # the peer's close frame came (or we wait for none)
        self.failing = False
        self.drained = False  # failing: the peer closed its side, or sent too much
        self.ended = False
        self.reading = "reading"  # then "draining" or "done"
        self.armed = False  # a notice of bytes is asked for
        self.unread = False  # the last read filled its buffer: more may be there
        self.hup = False  # the peer hung up: read until the end (no edge will say)
        self.paused = False  # not reading: the handler has ws_max_pending waiting
        self.parked = False  # the task waits in its mailbox loop (see `readable`)
        self.held: Any = None  # a CLOSED or FAIL event parsed, for the task to act on
        self.drain_budget = 0
        self.deadline = math.inf  # for the closing handshake
        self.ping_sent_at: float | None = None
        self.handler_told = False
        self.reason: Any = "normal"  # the reader's own exit reason
        self.crash: Exception | None = None  # what our code raised in the poller's task
        self.sizes: list[int] | None = None  # of the messages handed over, newest last
        self.sizes_total = 0
        self.recv_size = RECV_SIZE
        self.fd = -1
        self.poller: Poller | None = None
        self.messenger: Messenger | None = None  # whom the poller tells after a crash
        self.pump: Pump | None = None

    def attach(self, sock: Socket, stream_in: Inbound, listener: actors.Pid) -> None:
        """The socket's state, once the 101 is out; `listener`: the server's,
        whose end closes the socket (1001)."""
        self.sock = sock
        self.stream_in = stream_in
        self.listener = listener
        self.attached = True
        self.recv_size = DEFLATE_RECV_SIZE if sock.compressed else RECV_SIZE
        stream = sock.stream
        # Plain TCP is read by its number when the node's poller says so;
        # anything else (TLS, or no epoll) by a pump task (`_poller.py`).
        if HAVE_EPOLL and type(stream) is trio.SocketStream:
            self.fd = stream.socket.fileno()

    async def _on_message(self, msg: Any) -> None:
        """What the reader's mailbox says: bytes (from the poller or the
        pump), the writer, the handler's room, and the exits of the
        handler, the writer and the listener."""
        sock = self.sock
        if msg is READABLE or msg is READABLE_HUP:
            self.armed = False
            if msg is READABLE_HUP:
                self.hup = True
            await self._read()
            return
        match msg:
            case ("$data", data):
                self.armed = False
                if await self._received(data):
                    self._arm()
            case ("$parse",):
                if (self.held is not None or self.reading == "reading") and await self._parse():
                    self._arm()
            case ("$crash", exc):  # CRASHED, from the poller
                await self._crashed(exc)
            case ("$room",):
                if self.paused:
                    self.paused = False
                    if await self._parse():
                        self._arm()
            case ("$overflow",):
                await self.fail(close_codes.CLIENT_NOT_READING, grace=False)
            case ("$close_sent",):
                self.sent_close = True
                self._start_deadline()
                if self.failing:
                    await self._shut_sending_side()
            case actors.Exit(pid, reason) if pid == sock.handler:
                self.handler_told = True
                sock.close(*close_codes.for_handler_exit(reason))
                self._start_deadline()
            case actors.Exit(pid, reason) if pid == sock.writer:
                if not (actors.lowlevel.is_normal_exit(reason) and self.sent_close):
                    self.ended = True  # the writer could not write: the socket is gone
            case actors.Exit(pid, reason) if pid == self.listener:
                self.reason = reason
                if sock.close_info is None:
                    sock.close_info = close_codes.GOING_AWAY
                self._tell_handler()
                sock.close(*close_codes.GOING_AWAY)
                self._start_deadline()
            case _:
                pass

    # -- bytes in ----------------------------------------------------------------

    def _arm(self) -> None:
        """Ask for the next bytes (once)."""
        if self.armed:
            return
        self.armed = True
        if self.poller is not None:
            self.poller.arm(self.fd, self.messenger or self, self.unread)
        else:
            assert self.pump is not None
            self.pump.arm()

    @property
    def pid(self) -> actors.Pid:
        """The reader's process (for the poller)."""
        return self.sock.reader

    def _read_now(self) -> bytes | None:
        """`read_now` on the socket, noting whether more may be there: it
        filled the buffer, or the peer hung up and the end is still to read."""
        data = read_now(self.fd, self.recv_size)
        self.unread = data is not None and (len(data) == self.recv_size or self.hup)
        return data

    def readable(self, hup: int = 0) -> None:
        """The poller says the socket is readable (`hup`: and the peer hung
        up); in the poller's task.

        A reader waiting in its mailbox, with nothing queued there, not
        pausing and no write under way (whose stall only the reader's own
        timer catches), is read and parsed here and now; any other gets
        READABLE. What the parse cannot finish here goes to the reader as
        PARSE (a close or a failure held, a turn's worth of frames), and
        the end of the stream as ("$data", b""). What it raises the poller
        sends back (`_crashed`)."""
        self.armed = False
        if hup:
            self.hup = True
        sock = self.sock
        if not self.parked or sock.writing or self.reading != "reading" or mailbox_len(sock.reader):
            actors.send(sock.reader, READABLE_HUP if self.hup else READABLE)
            return
        # The message path: `_read_now` and `_arm` written out, a call less
        # each, and the clock read once for the poller's whole batch.
        poller = self.poller
        assert poller is not None
        try:
            data = os.read(self.fd, self.recv_size)
        except BlockingIOError:  # nothing after all
            self.unread = False
            self.armed = True
            poller.arm(self.fd, self, False)
            return
        except OSError:  # reset, and the like: as the end
            data = b""
        if not data:
            actors.send(sock.reader, ("$data", data))
            return
        self.unread = unread = self.hup or len(data) == self.recv_size
        sock.last_seen = poller.time
        stream_in = self.stream_in
        event = stream_in.one(data)
        if event is not None:  # the read was one whole message: `_parse_now`'s work, inline
            actors.send(sock.handler, ("browser", event))
            size = stream_in.size
            sizes = self.sizes
            if sizes is None:  # made on the first message: idle sockets are many
                sizes = self.sizes = []
            sizes.append(size)
            total = self.sizes_total = self.sizes_total + size
            max_messages, max_bytes = self.options.ws_max_pending
            if (len(sizes) >= max_messages or total >= max_bytes) and self._pause():
                return
            done = _MORE
        else:
            done = self._parse_now()
        if done == _MORE:  # after a full read, or a hang-up, at once (`unread`)
            self.armed = True
            if unread:
                poller.arm(self.fd, self, True)
            else:  # `arm` with nothing to check: see `Poller.owners`
                poller.owners[self.fd] = self
        elif done == _HELD:
            actors.send(sock.reader, PARSE)

    async def _crashed(self, exc: Exception) -> None:
        """Our `readable` raised `exc` in the poller's task: whatever the
        parser holds is not to be trusted. Fail the socket (1011); from now
        on the poller tells the reader by message only; the reader crashes
        with `exc` once the socket is closed (`serve_websocket`)."""
        self.armed = False  # the poller's notice went on the failure
        self.messenger = Messenger(self.sock.reader)
        if self.crash is None:
            self.crash = exc
        await self.fail(close_codes.INTERNAL_ERROR)
        if self.reading == "draining":  # failing already: the drain asks again
            self._arm()

    async def _read(self) -> None:
        """Read the plain socket the poller said is readable. A full buffer
        says more is waiting: it is read at once (after a checkpoint), a
        bounded number of times, and while the mailbox is empty, rather
        than asked for again: bulk bytes cost no trip through the poller."""
        size = self.recv_size
        for _ in range(READS_PER_NOTICE):
            data = self._read_now()
            if data is None:  # nothing after all
                break
            if not await self._received(data):
                return
            if (len(data) < size and not self.hup) or actors.lowlevel.mailbox_len(self.sock.reader):
                break
            await trio.lowlevel.checkpoint()
        self._arm()

    async def _received(self, data: bytes) -> bool:
        """Bytes from the socket (b"": its end): frames while reading; while
        failing, dropped, until the peer closes its side or twice the
        largest message went by (a peer in the middle of a message refused
        at its header still has that much to send). Whether more bytes are
        wanted."""
        if self.reading == "reading":
            if not data:
                self.reading = "done"
                self.ended = True  # the peer went away
                return False
            self.sock.last_seen = trio.current_time()
            self.stream_in.receive_data(data)
            return await self._parse()
        if self.reading == "draining":
            self.drain_budget -= len(data)
            if not data or self.drain_budget <= 0:
                self.reading = "done"
                self.drained = True
                return False
            return True
        return False

    async def _parse(self) -> bool:
        """Frames in, ("browser", data) out, until the bytes run out (True:
        more are wanted), the handler has enough (pause), or the socket
        closes or fails. A close or failure parsed in the poller's task
        (`held`) comes first."""
        while True:
            if self.held is None:
                done = self._parse_now()
                if done != _HELD:
                    return done == _MORE
            event = self.held
            if event is not None:
                self.held = None
                if event[0] == FAIL:
                    await self.fail((event[1], event[2]))
                    return self.reading == "draining"
                await self._peer_closed(event[1])
                return False
            await trio.lowlevel.checkpoint()  # after a turn's worth of frames
            if self.reading != "reading" or self.paused:
                return False

    def _parse_now(self) -> int:
        """Parse what is buffered, without waiting: messages to the handler
        and pongs to the writer, until the bytes run out (_MORE), the
        handler has enough (_PAUSED), or a close or failure (kept in
        `held`) or EVENTS_PER_CHECKPOINT frames need the reader's task
        (_HELD)."""
        sock = self.sock
        stream_in = self.stream_in
        handler = sock.handler
        max_messages, max_bytes = self.options.ws_max_pending
        events = None  # the backend's event generator, once `message()` gives up
        parsed = 0
        while True:
            event = stream_in.message() if events is None else None
            if event is None:
                if events is None:
                    events = stream_in.events()
                event = next(events, NOTHING)
            if event is NOTHING:
                return _MORE
            parsed += 1
            kind = type(event)
            if kind is str or kind is bytes:
                actors.send(handler, ("browser", event))
                size = stream_in.size
                sizes = self.sizes
                if sizes is None:  # made on the first message: idle sockets are many
                    sizes = self.sizes = []
                sizes.append(size)
                self.sizes_total += size
                if (len(sizes) >= max_messages or self.sizes_total >= max_bytes) and self._pause():
                    return _PAUSED
            elif event[0] == PING:
                sock.answer_ping(event[1])
            else:  # CLOSED or FAIL
                self.held = event
                return _HELD
            if parsed >= EVENTS_PER_CHECKPOINT:
                return _HELD

    async def _peer_closed(self, code: int) -> None:
        self.reading = "done"  # nothing is read after a close frame
        self.got_close = True
        if self.sock.close_info is None:
            self.sock.close_info = (1005 if code is None else code, "")
        await self._grace()
        self._tell_handler()
        # Answer with the peer's code, as RFC 6455 section 5.5.1 suggests.
        self.sock.close(1000 if code in (1005, None) else code)
        self._start_deadline()

    def _pause(self) -> bool:
        """Whether the handler has `ws_max_pending` messages or bytes waiting
        (one message alone always goes through); if so, read nothing more
        until a short-lived process says it has room ("$room").

        The sizes of the messages handed over are kept newest last, and
        trimmed to the handler's mailbox length: exact when the handler
        takes them in order, and never an underestimate."""
        handler = self.sock.handler
        assert handler is not None
        max_messages, max_bytes = self.options.ws_max_pending
        sizes = self.sizes
        assert sizes is not None
        waiting = actors.lowlevel.mailbox_len(handler)
        if len(sizes) > waiting:  # the oldest were taken
            del sizes[: len(sizes) - waiting]
            self.sizes_total = sum(sizes)
        if waiting == 0 or (waiting < max_messages and self.sizes_total < max_bytes):
            return False
        self.paused = True
        actors.spawn(_room_at, handler, waiting, self.sock.reader)
        return True

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
        if self.sock.close_info is None:
            self.sock.close_info = why
        self.got_close = True  # a failed connection waits for no close frame
        self.paused = False  # what is parsed and not delivered is dropped
        if self.reading == "reading":  # read and drop from now on
            self.reading = "draining"
            self.drain_budget = 2 * self.options.ws_max_message
            self._arm()
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
        """Until the next timer: the closing handshake's deadline, else the
        ping's, and a writer that is stuck (bytes keep coming in, and each
        restarts the wait: a client that sends but never reads is caught)."""
        now = trio.current_time()
        if self.deadline != math.inf:
            return max(0.0, self.deadline - now)
        sock = self.sock
        if self.ping_sent_at is not None:
            at = self.ping_sent_at + self.options.ws_ping_timeout
        else:
            at = sock.last_seen + self.options.ws_ping_interval
        if sock.writing:
            at = min(at, sock.write_since + self.options.ws_ping_timeout)
        return max(0.0, at - now)

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
        if self.paused:  # we are not reading: the silence is ours
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
            sock.push(ping_frame(b"trio-misultin"))


async def _room_at(handler: actors.Pid, waiting: int, reader: actors.Pid) -> None:
    """A short-lived process: tell `reader` once `handler` has fewer than
    `waiting` messages (or is gone)."""
    await actors.lowlevel.wait_mailbox_below(handler, waiting)
    actors.send(reader, ("$room",))
