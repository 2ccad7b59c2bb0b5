"""One connection process per TCP connection: a parser reads, `loop(req)` answers.

The parser (`_parsing`: h11, or llhttp with h11 as its judge) serves one
request cycle at a time and keeps whatever bytes the previous one had left
(pipelining); the response is written by `Req`.
Deadlines are per request, never per read, so that trickling bytes buys a
client nothing. One cancel scope per connection carries the receive
deadline, set while a head or body is awaited and lifted while the handler
runs: the whole head must come within `recv_timeout` of the wait's start
(408 if some of it came, a silent close if none did), a deadline that the
listener's `watch_heads` arms only on a wait that lasts; the body has
`recv_timeout` plus one second per `body_min_rate` bytes received, counted
only while the server waits for it (408 if nothing was answered yet). Each
write has `send_timeout` per piece of at most `_SEND_PIECE` bytes: a client
that does not take them is treated as gone. Every way a request can be bad
ends here, as one status and a close.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Final, NoReturn

import trio

import actors

from ._asgi_scope import asgi_scope
from ._body import discard_body, receive_body
from ._errors import HttpError
from ._files import is_static, serve_static
from ._framing import check_head, check_request_line, check_trailers, target_authority
from ._options import describe
from ._parsing import NEED_DATA, NeedData, Parser, ProtocolError, new_parser
from ._proxy import ProxyProtocolError, read_proxy_header
from ._req import _DONE, AccessLog, Req
from ._response import SERVER_LINE, date_line, encode_headers, error_page, status_line

if TYPE_CHECKING:
    from ._listener import Server
    from .lowlevel import UpgradeProtocol

__all__ = ["Connection", "connection_main", "watch_heads"]

logger = logging.getLogger("httpserver")

RECV_SIZE: Final = 65536
_HEAD_SLACK: Final = 16 * 1024  # room for headers beside a maximal request line
_SEND_PIECE: Final = 256 * 1024  # each piece of a write gets send_timeout to go out
_OVERLOAD: Final = b"Server is experiencing heavy load, please try again in a few minutes."


class Connection:
    """The state of one connection, owned by its process."""

    __slots__ = (
        "_ahead",
        "_ahead_size",
        "_watcher",
        "armed",
        "body_waited",
        "busy",
        "closing",
        "fd",
        "gone",
        "head_by",
        "local",
        "on_gone",
        "parser",
        "peer",
        "pid",
        "req",
        "scope",
        "sent_body",
        "server",
        "stream",
        "upgrade_protocol",
        "upgrade_req",
        "upgraded",
    )

    def __init__(self, server: Server, stream: trio.abc.Stream, peer: tuple[str, int]) -> None:
        self.server = server
        self.stream = stream
        # The socket's descriptor, read and written straight while `stream`
        # is this plain SocketStream (trio's fileno() is a Python call).
        self.fd = stream.socket.fileno() if type(stream) is trio.SocketStream else -1
        self.peer = peer
        self.pid = actors.self()
        self.scope = trio.CancelScope()
        self.head_by = math.inf  # when the head awaited must be in (see `watch_heads`)
        self.armed = False  # `scope` carries head_by as its deadline
        self.closing = False  # no keep-alive after the current response
        self.busy = False  # a request is being read or answered
        self.gone = False  # the client went away while a handler ran
        self.upgraded = False  # a WebSocket now
        self.upgrade_req: Req | None = None  # an upgrade for `connection_main` to hand over
        self.upgrade_protocol: UpgradeProtocol | None = None  # ... and to whom
        self.local: tuple[str, int] | None = None  # the server's address (ASGI's "server")
        self.on_gone: Callable[[], None] | None = None  # an ASGI request's http.disconnect
        self.req: Req | None = None
        self.parser: Parser | None = new_parser(
            server.parser_kind,
            server.options.get_url_max_size + _HEAD_SLACK,
            server.options.post_max_size,
        )
        self.sent_body = 0
        self.body_waited = 0.0  # seconds spent waiting for this request's body
        self._ahead: list[bytes] | None = None  # what the comet watcher read ahead
        self._ahead_size = 0
        self._watcher: actors.Pid | None = None

    # -- I/O used by Req -----------------------------------------------------

    async def write(self, data: bytes, body_bytes: int) -> None:
        """Send `data`; a client that takes no piece of it within
        send_timeout is gone, as one that closed (what follows is dropped).

        A write is a schedule point, the last of a response too: on a busy
        server the client's next request comes in the meantime, and the
        connection's read finds it at once, where reading at once would
        find nothing and wait through the event loop (callgrind: 10k more
        instructions a request without it)."""
        if self.gone:
            return  # as misultin: what is written to a closed client is dropped
        if type(self.stream) is trio.SocketStream:  # (`_send`'s first step, inline)
            try:
                sent = os.write(self.fd, data)
            except BlockingIOError:
                sent = 0
            except OSError:
                self.client_gone()
                return
            if sent == len(data):
                self.sent_body += body_bytes
                await trio.lowlevel.checkpoint()
                return
            rest = memoryview(data)[sent:]
        else:
            rest = memoryview(data)
        try:
            went = await self._send_rest(rest)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            self.client_gone()
            return
        if went:
            self.sent_body += body_bytes
        else:
            timeout = self.server.options.send_timeout
            logger.info("%r: the client took nothing for %s s; closing", self.peer, timeout)
            self.client_gone()

    async def _send(self, data: bytes) -> bool:
        """Whether each piece of `data` went out within send_timeout.

        On plain TCP the bytes are first written straight to the socket:
        almost always they all fit in its buffer, and then no deadline is
        armed at all (a cancel scope per write cost more than the write).
        Only what does not fit waits, under send_timeout per piece.
        """
        if type(self.stream) is trio.SocketStream:  # not under TLS
            try:
                sent = os.write(self.fd, data)
            except BlockingIOError:
                sent = 0
            except OSError:
                raise trio.BrokenResourceError from None
            if sent == len(data):
                await trio.lowlevel.checkpoint()
                return True
            return await self._send_rest(memoryview(data)[sent:])
        return await self._send_rest(memoryview(data))

    async def _send_rest(self, view: memoryview) -> bool:
        """Whether each piece of `view` went out within send_timeout."""
        stream = self.stream
        timeout = self.server.options.send_timeout
        for start in range(0, len(view), _SEND_PIECE):
            with trio.move_on_after(timeout) as timer:
                await stream.send_all(view[start : start + _SEND_PIECE])
            if timer.cancelled_caught:
                return False
        return True

    def client_gone(self) -> None:
        """The client closed while a handler runs: with `autoexit` the
        handler ends (quietly, as "killed"); otherwise it gets "closed"."""
        if self.gone:
            return
        self.gone = True
        self.closing = True
        if self.server.asgi is not None:  # the app hears it as http.disconnect
            if self.on_gone is not None:
                self.on_gone()
        elif self.server.options.autoexit:
            actors.exit(self.pid, "kill")
        else:
            actors.send(self.pid, "closed")

    async def _receive_by(self, deadline: float, checkpoint: bool = False) -> bytes:
        """Bytes from the peer before `deadline` (b"" at its end); past it,
        the connection's scope is cancelled.

        On plain TCP the socket is read straight away, and only when it has
        nothing yet is the deadline armed and the socket waited for (each
        change of a cancel scope's deadline, and trio's receive_some around
        the read, cost more than the read). Bytes already there come with
        no schedule point unless `checkpoint`: a request cycle has one
        anyway, where its response is written."""
        stream = self.stream
        scope = self.scope
        if type(stream) is not trio.SocketStream:  # TLS
            scope.deadline = deadline
            try:
                return bytes(await stream.receive_some(RECV_SIZE))
            finally:
                scope.deadline = math.inf
        fd = self.fd
        try:
            data = os.read(fd, RECV_SIZE)
        except BlockingIOError:
            pass
        except OSError:
            raise trio.BrokenResourceError from None
        else:
            if checkpoint:
                await trio.lowlevel.checkpoint()
            return data
        scope.deadline = deadline
        try:
            while True:
                await trio.lowlevel.wait_readable(fd)
                try:
                    return os.read(fd, RECV_SIZE)
                except BlockingIOError:
                    continue
                except OSError:
                    raise trio.BrokenResourceError from None
        finally:
            scope.deadline = math.inf

    async def _receive_head(self) -> bytes:
        """Bytes of the head awaited (b"" at the stream's end), before
        `head_by`. The deadline is not armed here: `watch_heads` arms it on
        the connection's scope only if the wait lasts (a deadline armed and
        lifted per request cost a tenth of the request).

        On plain TCP the socket is read at once: on a busy server the next
        request has come while the others were served, and a read that
        finds it saves a trip through the event loop."""
        stream = self.stream
        if type(stream) is not trio.SocketStream:  # TLS
            return await self._receive_by(self.head_by)
        fd = self.fd
        while True:
            try:
                return os.read(fd, RECV_SIZE)
            except BlockingIOError:
                pass
            except OSError:
                raise trio.BrokenResourceError from None
            await trio.lowlevel.wait_readable(fd)

    async def read_body(self, req: Req) -> bytes:
        """The next piece of `req`'s body, b"" at its end (413 past the limit)."""
        if not req._body_left:
            return b""
        parser = self.parser
        assert parser is not None
        if req.expect_continue and not req.started:
            req.expect_continue = False
            if req.version == "1.1":  # RFC 9110 10.1.1: an HTTP/1.0 expectation is ignored
                await self.write(b"HTTP/1.1 100 Continue\r\n\r\n", 0)
        while True:
            try:
                event = parser.next_body()
            except ProtocolError as exc:  # the same status, whoever reads the body
                req._keep_alive = False
                raise HttpError(exc.status) from exc
            if event is NEED_DATA:
                options = self.server.options
                allowed = options.recv_timeout + req._body_seen / options.body_min_rate
                start = trio.current_time()
                try:
                    data = await self._receive_by(start + allowed - self.body_waited, True)
                finally:
                    self.body_waited += trio.current_time() - start
                parser.receive_data(data)
                continue
            if type(event) is bytes:
                req._body_seen += len(event)
                if req._body_seen > self.server.options.post_max_size:
                    req._keep_alive = False
                    raise HttpError(413)
                return event
            req._body_left = False
            if event:  # trailer fields
                req._keep_alive = False  # trailers are discarded, and end the connection
                check_trailers(event)  # type: ignore[arg-type]
            return b""

    # -- comet: see a client close while the handler runs --------------------

    def watch_for_close(self) -> None:
        if self._watcher is None:
            self._watcher = actors.spawn(_watch, self, link=True)

    async def _stop_watching(self) -> None:
        watcher, self._watcher = self._watcher, None
        if watcher is not None:
            actors.unlink(watcher)
            ref = actors.monitor(watcher)
            actors.exit(watcher, "kill")
            await actors.receive(actors.Down(ref, watcher, actors.ANY))
        if self._ahead:  # a pipelined request came while the handler ran
            assert self.parser is not None
            self.parser.receive_data(b"".join(self._ahead))
            self._ahead = None
            self._ahead_size = 0

    # -- the request loop -------------------------------------------------------

    async def serve(self) -> None:
        options = self.server.options
        loop = self.server.handler
        upgrades = self.server.upgrades
        static = options.static
        log = options.access_log
        requests = self.server.requests  # (the metrics' counts by status)
        parser = self.parser
        assert parser is not None
        while True:
            parser.next_cycle()
            self.req = None  # an error from here on is this cycle's, not the last answer's
            event = parser.next_request()
            if event is NEED_DATA:
                self.busy = parser.buffered() > 0  # part of a pipelined head is a request begun
                if self.closing:
                    return
                self.head_by = trio.current_time() + options.recv_timeout  # the whole head's
                try:
                    while event is NEED_DATA:
                        data = await self._receive_head()
                        if not data and not parser.buffered():
                            return  # the client closed between requests
                        self.busy = True
                        parser.receive_data(data)
                        event = parser.next_request()
                finally:
                    self.head_by = math.inf
                    if self.armed:
                        self.armed = False
                        self.scope.deadline = math.inf
            self.busy = True
            if event is None:
                return  # the client closed
            assert not isinstance(event, NeedData)
            if len(event.target) > options.get_url_max_size:
                raise HttpError(414)
            head = parser.head_bytes()
            if head is not None:  # (None: the parser checked it on the way)
                check_head(head)
            target = check_request_line(event.method, event.target, event.http_version)
            # The parser bounds only a head still incomplete; one that came
            # whole is measured here.
            if parser.head_too_large():
                raise HttpError(431)
            raw_target = event.target
            req = Req(
                self, event, target, None if target is raw_target else target_authority(raw_target)
            )
            self.req = req
            self.sent_body = 0
            self.body_waited = 0.0
            if req._body_left:
                if req._content_length is not None and req._content_length > options.post_max_size:
                    raise HttpError(413)
                if options.auto_recv_body:
                    await receive_body(req)
            if req._upgrade and upgrades:
                protocol = upgrades.get(_upgrade_token(req))
                if protocol is not None:
                    self.upgrade_req = req  # handed over once this loop and its scope are left
                    self.upgrade_protocol = protocol
                    return
            if static is not None and req.method in ("GET", "HEAD") and is_static(req.target):
                await serve_static(req, static)
            else:
                try:
                    await loop(req)
                except HttpError as error:  # raised on purpose, or a body too large
                    if req.started or not req._keep_alive:
                        raise
                    await req.respond(error.status, None, error.body or error_page(error.status))
                except Exception as exc:
                    await self._crashed(req, exc)
                finally:
                    if self._watcher is not None:
                        await self._stop_watching()
            if req._phase != _DONE:
                await self._finish(req)
            if requests is not None:
                requests[req.status or 0] += 1
            if log is not None:
                log(_access_entry(req, self))
            if req._body_file is not None:
                discard_body(req)
            if not req._keep_alive or self.closing:
                return
            if req._body_left:  # the handler left the body unread: drop it
                await self._skip_body(req)

    async def _finish(self, req: Req) -> None:
        """A response the handler left unfinished: 500 if none was sent, the
        end of a chunked body, or the close that ends a stream."""
        if not req.started:
            logger.error("%r: loop returned without answering; sending 500", req)
            req._keep_alive = False
            await self.write(_error_response(500, req.method == "HEAD"), 0)
            req.status = 500
        elif not req.answered:
            if req._phase == 2 and req.version == "1.1":  # chunking: end the body
                await req.chunk_end()
            else:
                req._keep_alive = False  # an open stream ends with the connection

    def record(self, req: Req | None, status: int = 0) -> None:
        """Count the response by its status (the metrics), and write its
        access log entry (a request whose head never came has none)."""
        server = self.server
        if server.requests is not None:
            server.requests[req.status or status if req is not None else status] += 1
        log = server.options.access_log
        if log is not None and req is not None:
            log(_access_entry(req, self))

    async def _crashed(self, req: Req, exc: Exception) -> NoReturn:
        """`loop` raised: answer 500 if nothing was sent, log it once naming
        the request (not the connection process), and end this connection's
        process with the exception as its reason (its crash, as a link or
        monitor sees it; the listener traps it)."""
        started = req.started
        if not started:
            self.closing = True
            await self.write(_error_response(500, req.method == "HEAD"), 0)
            req.status = 500
        logger.error(
            "%r from %s: loop %s raised %r; %s",
            req,
            req.peer[0],
            describe(self.server.handler),
            exc,
            "closing the connection" if started else "answering 500",
            exc_info=exc,
        )
        self.record(req)
        raise actors.ProcessExit(exc) from None

    async def _skip_body(self, req: Req) -> None:
        limit = self.server.options.post_max_size
        skipped = 0
        while True:
            part = await self.read_body(req)
            if not part:
                return
            skipped += len(part)
            if skipped > limit:
                req._keep_alive = False
                return

    async def reject(
        self, status: int, body: bytes | None = None, headers: dict[str, str] | None = None
    ) -> None:
        """Answer `status` if nothing was sent yet; the connection then closes."""
        req = self.req
        if req is not None and req.started:
            return
        head = req is not None and req.method == "HEAD"
        await self.write(_error_response(status, head, body, headers), 0)
        if req is not None:
            req.status = status
        self.record(req, status)


def _upgrade_token(req: Req) -> str:
    """The protocol an upgrade request names first (`Upgrade: websocket`)."""
    value = req.headers.get("upgrade") or ""
    return value.partition(",")[0].strip().lower()


def _error_response(
    status: int, head_only: bool, body: bytes | None = None, headers: dict[str, str] | None = None
) -> bytes:
    payload = error_page(status) if body is None else body
    extra, _ = encode_headers(headers)
    return b"".join(
        [
            status_line(status),
            SERVER_LINE,
            date_line(),
            *extra,
            b"Content-Type: text/html; charset=utf-8\r\n",
            b"Content-Length: %d\r\n" % len(payload),
            b"Connection: close\r\n\r\n",
            b"" if head_only else payload,
        ]
    )


_stamp_second = -1
_stamp = ""


def _access_entry(req: Req, conn: Connection) -> AccessLog:
    """The access log's entry; its time stamp is formatted once a second."""
    global _stamp_second, _stamp
    now = int(time.time())
    if now != _stamp_second:
        _stamp_second = now
        _stamp = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(now))
    line = f"{req.method} {req.target.decode('latin-1')} HTTP/{req.version}"  # (req.uri)
    peer = req.peer[0] if conn.server.trust.any else conn.peer[0]
    # (tuple.__new__ straight: a NamedTuple's own __new__ is one more Python call)
    return _new_entry(AccessLog, (peer, _stamp, line, req.status or 0, conn.sent_body))


_new_entry: Final = tuple.__new__


async def _watch(conn: Connection) -> None:
    """Comet: read ahead on the socket while the handler runs; tell the
    handler (or end it, with autoexit) when the client goes away. What is
    read is kept for the next request, up to the size of a request head:
    past that it is no pipelined request but a flood, and the connection
    is dropped as if the client had gone."""
    limit = conn.server.options.get_url_max_size + _HEAD_SLACK
    while True:
        try:
            data = await conn.stream.receive_some(RECV_SIZE)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            data = b""
        if not data:
            conn.client_gone()
            return
        if conn._ahead is None:  # made when first needed: a connection mostly has none
            conn._ahead = []
        conn._ahead.append(bytes(data))  # a pipelined request: kept for later
        conn._ahead_size += len(data)
        if conn._ahead_size > limit:
            logger.info(
                "%r: over %d bytes sent while a comet handler waits; closing", conn.peer, limit
            )
            conn.client_gone()
            return


async def watch_heads(server: Server) -> None:
    """Arm the head deadline of each connection whose wait for a head has
    lasted, with that head's own deadline: every `recv_timeout / 2`
    seconds, so each wait is seen before its deadline and the deadline
    is kept to the instant (a helper task of the listener)."""
    period = server.options.recv_timeout / 2
    while True:
        await trio.sleep(period)
        for conn in server.connections.values():
            if conn.head_by != math.inf and not conn.armed:
                conn.armed = True
                conn.scope.deadline = conn.head_by


_SPENT: Final = trio.CancelScope()
"""What an upgraded connection holds as its `scope`, once it has left its
own for good: never entered, and nothing reads it (a switched connection
waits for no head, so `watch_heads` passes it by)."""


async def connection_main(server: Server, stream: trio.abc.Stream, peer: tuple[str, int]) -> None:
    """The body of a connection process."""
    conn = Connection(server, stream, peer)
    server.connections[conn.pid] = conn
    try:
        with conn.scope:
            try:
                await _open(conn, server)
                await conn.serve()
            except HttpError as error:
                await conn.reject(error.status, error.body, error.headers)
            except ProtocolError as exc:
                await conn.reject(exc.status)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                pass  # the client went away
        if conn.scope.cancelled_caught and conn.busy:  # recv_timeout mid-request
            with trio.move_on_after(1):
                await conn.reject(408)
        req, conn.upgrade_req = conn.upgrade_req, None
        if req is not None:
            # Outside the request loop and its deadline scope: a long-lived
            # socket keeps neither (nor the parser), and a server holding
            # thousands of them has that much less for the collector to walk.
            protocol, conn.upgrade_protocol = conn.upgrade_protocol, None
            assert protocol is not None
            conn.scope = _SPENT  # its scope is left for good: one object less per socket
            try:
                if server.asgi is None:
                    await protocol.serve(req)
                else:
                    await protocol.serve_asgi(req, server.asgi, asgi_scope(req))
            except HttpError as error:  # the handshake was refused
                await conn.reject(error.status, error.body, error.headers)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                pass  # the client went away
            del req
    finally:
        server.connections.pop(conn.pid, None)
        if conn.upgraded:
            server.switched -= 1
        if server.all_closed is not None and not server.connections:
            server.all_closed.set()
        if conn.req is not None:
            discard_body(conn.req)
        if conn._watcher is not None:
            actors.exit(conn._watcher, "kill")
        with trio.move_on_after(1) as cleanup:
            cleanup.shield = True
            await _close(conn.stream)


async def _open(conn: Connection, server: Server) -> None:
    """Before HTTP: the overload check, the PROXY line, the TLS handshake."""
    options = server.options
    if server.overloaded:
        raise HttpError(503, _OVERLOAD)
    if options.proxy_protocol:
        if not server.trust.trusts(conn.peer[0]):  # only a proxy sends the line
            raise HttpError(400, b"<h1>400 Bad Request</h1>\r\nnot a trusted proxy")
        conn.scope.deadline = trio.current_time() + min(options.recv_timeout, 5.0)
        try:
            conn.peer = await read_proxy_header(conn.stream)
        except ProxyProtocolError as exc:
            raise HttpError(400, f"<h1>400 Bad Request</h1>\r\n{exc}".encode()) from None
        conn.scope.deadline = math.inf
    if server.ssl_context is not None:
        conn.stream = trio.SSLStream(
            conn.stream, server.ssl_context, server_side=True, https_compatible=True
        )
        conn.scope.deadline = trio.current_time() + options.recv_timeout
        await conn.stream.do_handshake()
        conn.scope.deadline = math.inf


async def _close(stream: trio.abc.Stream) -> None:
    with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError, OSError):
        await stream.aclose()
