"""ASGI apps over HTTP: the `http` scope of asgiref's www spec, one request
cycle at a time, in the connection process.

The app is the server's handler, where misultin's `loop(req)` would be: the
connection reads and checks the head (deadlines, limits, smuggling rules)
as for any request, and calls `AsgiHttp(req)`, which runs
`app(scope, receive, send)` in the connection process, so that a route can
`await actors.call(...)`, `spawn`, `send` and `receive` like any process.

`receive` gives the body as `http.request` messages: the body read ahead
(`auto_recv_body`, under its deadline and `post_max_size`) in one message,
or in 64 KiB pieces from its temporary file, or, with `auto_recv_body=False`,
as it arrives from the socket. Past the body it waits until the response is
done or the client leaves (the comet watcher reads the socket meanwhile),
then gives `http.disconnect`. A body the server refuses (413, a bad chunk)
ends the app's body with `http.disconnect`, and the connection answers the
refusal when the app returns, as it would for `loop`.

`send` writes as `Req` does, from pre-encoded bytes: the head waits for the
first body message, so a whole response goes out in one write with its
Content-Length, and an error before it can still be a clean 500. A streamed
body is chunked (HTTP/1.1, no Content-Length), counted against the app's
Content-Length, or close-delimited (HTTP/1.0). Header names and values are
checked as misultin's are: a control character is a violation, never a
header injected.

Every way an app breaks the protocol (a body before the start, a second
start, an unknown message type, a bad status or header, a body longer or
shorter than its Content-Length, returning without a whole response) and
every exception it raises end the request the same way: one log line
naming it, then a 500 if nothing was sent, or a closed connection if
something was. The connection process lives on; the server keeps serving.
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING, Any, Final

import trio

from ._asgi_scope import ClientDisconnected, asgi_scope
from ._body import PIECE, discard_body
from ._errors import HttpError
from ._parsing import ProtocolError
from ._response import SERVER_LINE, date_line, error_page, status_line

if TYPE_CHECKING:
    from ._req import Req

__all__ = ["AppProtocolError", "AsgiHttp"]

logger = logging.getLogger("httpserver")

# Where a response stands (Req's phases: _STREAMING, _CHUNKING, _DONE).
_NOTHING: Final = 0
_IDENTITY: Final = 1  # streaming with the app's Content-Length, or close-delimited
_CHUNKED: Final = 2
_DONE: Final = 3

_TOKEN: Final = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_BAD_VALUE: Final = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")
_NO_BODY: Final = frozenset({204, 304})
_FRAMING_NAMES: Final = frozenset(
    {b"content-length", b"transfer-encoding", b"connection", b"server", b"date"}
)
_NAMES: dict[bytes, bytes] = {}  # response header names found to be tokens, lowercased
_NAMES_MAX: Final = 1024
_DISCONNECT: Final = "http.disconnect"
_CHUNKED_LINE: Final = b"Transfer-Encoding: chunked\r\n"
_CLOSE_LINE: Final = b"Connection: close\r\n"
_KEEP_ALIVE_LINE: Final = b"Connection: keep-alive\r\n"


class AppProtocolError(RuntimeError):
    """The ASGI app sent a message the protocol does not allow here."""


class AsgiHttp:
    """The handler of an ASGI server: one `http` scope per request."""

    __slots__ = ("app",)

    def __init__(self, app: Any) -> None:
        self.app = app

    def __repr__(self) -> str:
        return f"AsgiHttp({self.app!r})"

    async def __call__(self, req: Req) -> None:
        cycle = _Cycle(req)
        req._conn.on_gone = cycle.client_gone
        try:
            await self.app(asgi_scope(req), cycle.receive, cycle.send)
        except Exception as exc:
            cycle.raised = exc
        finally:
            event = cycle.event  # (cycle.over(), inline)
            if event is not None:
                event.set()
        if (
            cycle.state != _DONE
            or cycle.violation is not None
            or cycle.raised is not None
            or cycle.failure is not None
        ):
            await cycle.finish()


class _Cycle:
    """One request's receive and send, and where its response stands."""

    __slots__ = (
        "body_done",
        "closing",
        "delivered",
        "event",
        "failure",
        "has_date",
        "has_server",
        "head_lines",
        "length",
        "raised",
        "req",
        "sent",
        "state",
        "status",
        "violation",
    )

    def __init__(self, req: Req) -> None:
        self.req = req
        self.state = _NOTHING
        self.status = 0
        self.head_lines: list[bytes] = []
        self.length: int | None = None  # the app's Content-Length
        self.sent = 0  # body bytes sent
        self.has_server = False
        self.has_date = False
        self.closing = False  # the app asked for Connection: close
        self.delivered = 0  # body bytes given to the app from a spooled body
        self.body_done = False  # the last http.request message was given
        self.event: trio.Event | None = None  # set when the response is done or the client left
        self.failure: BaseException | None = None  # the body the server refused
        self.violation: str | None = None
        self.raised: Exception | None = None

    # -- receive -----------------------------------------------------------------

    async def receive(self) -> dict[str, Any]:
        req = self.req
        if not self.body_done:
            if not req._body_left and req._body_file is None:
                # The whole body, read ahead (or none): one message, at once.
                # (No schedule point: the next receive waits, or has one.)
                body = req._body
                req._body = None
                self.body_done = True
                return {"type": "http.request", "body": body or b"", "more_body": False}
            try:
                return await self._body()
            except (HttpError, ProtocolError) as exc:
                self.failure = exc  # answered by the connection once the app returns
                self.body_done = True
                req._keep_alive = False
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                self.body_done = True
                req._conn.client_gone()
            return {"type": _DISCONNECT}
        conn = req._conn
        if self.state == _DONE or conn.gone or self.failure is not None:
            await trio.lowlevel.checkpoint()
            return {"type": _DISCONNECT}
        if self.event is None:
            self.event = trio.Event()
        conn.watch_for_close()  # its read ahead is kept for the next request
        await self.event.wait()
        return {"type": _DISCONNECT}

    async def _body(self) -> dict[str, Any]:
        """The next http.request message: the body read ahead (whole, or in
        pieces from its file), or what the socket brings."""
        req = self.req
        spool = req._body_file
        if spool is not None:
            piece = spool.read(PIECE)
            self.delivered += len(piece)
            more = self.delivered < req._body_seen
            if not more:
                discard_body(req)
                self.body_done = True
            await trio.lowlevel.checkpoint()
            return {"type": "http.request", "body": piece, "more_body": more}
        conn = req._conn
        piece = await conn.read_body(req)
        if piece and req._content_length is not None and req._body_seen >= req._content_length:
            await conn.read_body(req)  # the end, already here: no empty message for it
        more = req._body_left
        self.body_done = not more
        return {"type": "http.request", "body": piece, "more_body": more}

    def client_gone(self) -> None:
        """The connection saw the client leave (a write failed, or the
        watcher read the end of the stream)."""
        if self.event is not None:
            self.event.set()

    # -- send --------------------------------------------------------------------

    def _violate(self, what: str) -> AppProtocolError:
        if self.violation is None:
            self.violation = what
        return AppProtocolError(f"ASGI protocol violation: {what}")

    async def send(self, message: Any) -> None:
        if self.violation is not None:
            raise AppProtocolError(f"ASGI protocol violation: {self.violation}")
        try:
            kind = message["type"]
        except (TypeError, KeyError):
            raise self._violate(f"a message without a 'type': {message!r:.80}") from None
        if kind == "http.response.body":
            await self._send_body(message)
        elif kind == "http.response.start":
            if self.state != _NOTHING or self.status:
                raise self._violate("a second http.response.start")
            if self.req._conn.gone:
                raise ClientDisconnected("the client has gone away")
            self._start(message)
        else:
            raise self._violate(f"an unknown message type {kind!r}")

    def _start(self, message: Any) -> None:
        status = message.get("status")
        if type(status) is not int or not 200 <= status <= 999:
            raise self._violate(f"http.response.start with status {status!r}")
        lines = self.head_lines
        names = []
        values = []
        for pair in message.get("headers") or ():
            try:
                name, value = pair
            except (TypeError, ValueError):
                raise self._violate(f"a response header that is no pair: {pair!r:.80}") from None
            if type(name) is not bytes or type(value) is not bytes:
                if not isinstance(name, bytes | bytearray) or not isinstance(
                    value, bytes | bytearray
                ):
                    raise self._violate(f"a response header not in bytes: {pair!r:.80}")
                name, value = bytes(name), bytes(value)
            lower = _NAMES.get(name)
            if lower is None:  # a name not seen yet: is it a token?
                if not _TOKEN.fullmatch(name):
                    raise self._violate(f"an invalid response header {name!r:.40}: {value!r:.80}")
                lower = name.lower()
                if len(_NAMES) < _NAMES_MAX:
                    _NAMES[name] = lower
            names.append(name)
            values.append(value)
            if lower in _FRAMING_NAMES:
                if lower == b"content-length":
                    if not value.isdigit() or self.length is not None:
                        raise self._violate(f"a bad or repeated Content-Length: {value!r:.40}")
                    self.length = int(value)
                elif lower == b"transfer-encoding":
                    continue  # the server frames the body itself (the spec says to ignore it)
                elif lower == b"connection":
                    if b"close" in value.lower():
                        self.closing = True
                    continue  # the server says whether the connection stays open
                elif lower == b"server":
                    self.has_server = True
                else:
                    self.has_date = True
            lines.append(b"%b: %b\r\n" % (name, value))
        # One search over every value for a control character (a value
        # with CR or LF would inject a header), then the culprit by name.
        if values and _BAD_VALUE.search(b"".join(values)):
            for name, value in zip(names, values, strict=True):
                if _BAD_VALUE.search(value):
                    raise self._violate(f"an invalid response header {name!r:.40}: {value!r:.80}")
        self.status = status

    def _head(self, framing: bytes) -> bytes:
        req = self.req
        parts = [status_line(self.status), *self.head_lines]
        if not self.has_server:
            parts.append(SERVER_LINE)
        if not self.has_date:
            parts.append(date_line())
        if framing:
            parts.append(framing)
        if self.closing or not req._keep_alive or req._conn.closing:
            req._keep_alive = False
            parts.append(_CLOSE_LINE)
        elif req.version != "1.1":
            parts.append(_KEEP_ALIVE_LINE)
        parts.append(b"\r\n")
        req.status = self.status
        return b"".join(parts)

    async def _send_body(self, message: Any) -> None:
        state = self.state
        if state == _DONE:
            return  # "any further messages on the channel will be ignored"
        if not self.status:
            raise self._violate("http.response.body before http.response.start")
        req = self.req
        conn = req._conn
        if conn.gone:
            raise ClientDisconnected("the client has gone away")
        body = message.get("body", b"")
        if type(body) is not bytes:
            if not isinstance(body, bytearray | memoryview):
                raise self._violate(f"a body that is not bytes: {type(body).__name__}")
            body = bytes(body)
        more = message.get("more_body", False)
        status = self.status
        quiet = req.method == "HEAD" or status in _NO_BODY
        length = self.length
        if state == _NOTHING:
            if not more:  # the whole response in one write
                if length is None:
                    framing = b"" if status in _NO_BODY else b"Content-Length: %d\r\n" % len(body)
                elif length != len(body) and not quiet:
                    raise self._violate(
                        f"a body of {len(body)} bytes where Content-Length says {length}"
                    )
                else:
                    framing = b""
                self.state = req._phase = _DONE
                if quiet:
                    await conn.write(self._head(framing), 0)
                else:
                    await conn.write(self._head(framing) + body, len(body))
                if self.event is not None:
                    self.event.set()
                return
            if length is not None or quiet:
                self.state = req._phase = _IDENTITY
                framing = b""
            elif req.version == "1.1":
                self.state = req._phase = _CHUNKED
                framing = _CHUNKED_LINE
            else:  # HTTP/1.0: the body ends with the connection
                self.state = req._phase = _IDENTITY
                req._keep_alive = False
                framing = b""
            head = self._head(framing)
            if quiet:
                await conn.write(head, 0)
                return
            data = self._frame(body, False)
            await conn.write(head + data, len(body))
            return
        if quiet:
            if not more:
                self.state = req._phase = _DONE
                self._done()
            return
        data = self._frame(body, not more)
        if not more:
            if length is not None and self.sent != length:
                raise self._violate(
                    f"a body of {self.sent} bytes where Content-Length says {length}"
                )
            self.state = req._phase = _DONE
        if data:
            await conn.write(data, len(body))
        if not more:
            self._done()

    def _frame(self, body: bytes, last: bool) -> bytes:
        """`body` as this response frames it (counted against Content-Length)."""
        self.sent += len(body)
        length = self.length
        if length is not None and self.sent > length:
            raise self._violate(f"a body longer than its Content-Length ({length} bytes)")
        if self.state != _CHUNKED:
            return body
        if last:
            return b"%x\r\n%b\r\n0\r\n\r\n" % (len(body), body) if body else b"0\r\n\r\n"
        return b"%x\r\n%b\r\n" % (len(body), body) if body else b""

    def _done(self) -> None:
        event = self.event
        if event is not None:
            event.set()

    # -- the end of the app --------------------------------------------------------

    def over(self) -> None:
        """The app returned or raised: a receive still waiting is answered."""
        self._done()

    async def finish(self) -> None:
        """Act on how the app ended: a refused body is answered by the
        connection; a violation or an exception is logged once and ends the
        request with a 500, or, once something was sent, with a close."""
        req = self.req
        conn = req._conn
        if self.failure is not None:
            raise self.failure
        if self.state == _DONE and self.violation is None and self.raised is None:
            return
        if conn.gone:
            if self.raised is not None:
                logger.info("%r: the client left; the ASGI app ended with %r", req, self.raised)
            req._phase = _DONE
            return
        what = self.violation
        if what is None and self.raised is None:
            what = (
                "returned without sending http.response.start"
                if self.state == _NOTHING
                else "returned before the end of its response (more_body)"
            )
        started = self.state != _NOTHING
        outcome = "closing the connection" if started else "answering 500"
        conn.closing = True
        req._keep_alive = False
        if what is not None:
            logger.error("%r: the ASGI app broke the protocol: %s; %s", req, what, outcome)
        else:
            logger.error(
                "%r: the ASGI app raised %s; %s",
                req,
                type(self.raised).__name__,
                outcome,
                exc_info=self.raised,
            )
        if started:
            req._phase = _DONE
            return
        await req.respond(500, None, error_page(500))
