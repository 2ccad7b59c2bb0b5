"""`Req`: one HTTP request and the ways to answer it (misultin's Req API).

A Req is handed to the server's `loop(req)` in the connection process. The
request side is read lazily (query, cookies, peer); the response side keeps
track of what was sent, so that a second answer, or a chunk after the end,
is an error that says so rather than a broken byte stream.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import IO, TYPE_CHECKING, Any, Final, NamedTuple
from urllib.parse import parse_qsl, unquote

from . import _body, _cookies, _files, _forms
from ._compress import compress_body
from ._errors import ResponseError
from ._headers import Headers, PackedHeaders, packed
from ._response import (
    DEFAULT_TYPE,
    NO_BODY_STATUSES,
    SERVER_LINE,
    HeadersArg,
    date_line,
    encode_headers,
    plain_head,
    status_line,
)

if TYPE_CHECKING:
    from ._connection import Connection
    from ._parsing import Framing, RequestHead

__all__ = ["Req", "get_variable"]

# Where a response stands.
_NOTHING_SENT: Final = 0
_STREAMING: Final = 1  # stream_head sent: close-delimited body open
_CHUNKING: Final = 2  # chunk_head sent: chunked body open
_DONE: Final = 3

_DEFAULT_TYPE: Final = DEFAULT_TYPE
_NO_BODY_STATUSES: Final = NO_BODY_STATUSES
_VARY: Final = b"Vary: Accept-Encoding\r\n"
_NO_NAMES: Final[frozenset[str]] = frozenset()
_METHODS: Final = {m.encode(): m for m in ("GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS")}


def _header(raw: Sequence[tuple[bytes, bytes]], name: bytes) -> str | None:
    """The first value of header `name` (lowercase bytes) in `raw`, or None."""
    for key, value in raw:
        if key == name:
            return value.decode("latin-1")
    return None


def get_variable(name: str, pairs: Sequence[tuple[str, Any]]) -> Any:
    """The value of `name` in `pairs` (from parse_qs / parse_post), or None."""
    for key, value in pairs:
        if key == name:
            return value
    return None


class Req:
    """One HTTP request. Read it; answer it once."""

    __slots__ = (
        "_blob",
        "_body",
        "_body_file",
        "_body_left",
        "_body_seen",
        "_chunked",
        "_conn",
        "_content_length",
        "_cookies",
        "_headers",
        "_keep_alive",
        "_out_cookies",
        "_phase",
        "_query_start",
        "_raw",
        "_upgrade",
        "expect_continue",
        "method",
        "status",
        "target",
        "version",
    )

    def __init__(
        self,
        conn: Connection,
        request: RequestHead,
        target: bytes | None = None,
        host: bytes | None = None,
    ) -> None:
        self._conn = conn
        method = request.method
        self.method: str = _METHODS.get(method) or method.decode("ascii")
        self.target: bytes = request.target if target is None else target
        version = request.http_version
        self.version: str = "1.1" if version == b"1.1" else version.decode("ascii")
        headers = request.headers
        raw = headers if type(headers) is list else list(headers)  # names lowercased
        framing: Framing | None = getattr(request, "framing", None)
        if host is not None:  # an absolute-form target's host replaces Host (RFC 9112 3.2.2)
            raw = [(k, v) for k, v in raw if k != b"host"]
            raw.append((b"host", host))
        self._raw: Sequence[tuple[bytes, bytes]] = raw
        self._blob: bytes | None = None  # the headers packed, once the request is kept
        self._headers: Headers | None = None  # made when first asked for
        chunked = False
        if framing is not None:  # the parser read them on the way (never chunked)
            length, tokens, expect = framing
        else:  # one pass over the headers for what framing and keep-alive need
            length = None
            tokens = b""
            expect = False
            for name, value in raw:
                if name == b"content-length":
                    length = int(value)
                elif name == b"transfer-encoding":
                    chunked = True
                elif name == b"connection":
                    tokens += b"," + value.lower()
                elif name == b"expect":
                    expect = value.lower() == b"100-continue"
        self.expect_continue = expect
        if tokens:  # (`find`: `in` tries bytes as an int first, a TypeError raised and cleared)
            self._upgrade = tokens.find(b"upgrade") >= 0
            if version == b"1.1":
                self._keep_alive = tokens.find(b"close") < 0
            else:
                self._keep_alive = tokens.find(b"keep-alive") >= 0
        else:
            self._upgrade = False
            self._keep_alive = version == b"1.1"
        if chunked and (length is not None or self.version != "1.1"):
            # Framing a proxy may have read otherwise (RFC 9112 6.1, 6.3): the
            # body is chunked, as h11 reads it, and the connection closes after.
            length = None
            self._keep_alive = False
        self._content_length = length
        self._chunked = chunked
        self._body: bytes | None = None
        self._body_file: IO[bytes] | None = None  # a large body read ahead, see _body
        self._body_left = chunked or bool(length)  # body bytes still unread
        self._body_seen = 0
        self._query_start = self.target.find(b"?")
        self._cookies: dict[str, str] | None = None
        self._out_cookies: list[bytes] | None = None  # made by the first set_cookie
        self._phase = _NOTHING_SENT
        self.status: int | None = None  # of the response, once sent

    def __repr__(self) -> str:
        return f"<Req {self.method} {self.uri} HTTP/{self.version}>"

    def _kept(self) -> None:
        """This request outlives its exchange (a switched connection keeps
        it for its life): its header list packed into bytes, which the
        cyclic collector does not track (a PackedHeaders kept would be one
        object more per open WebSocket for every full pass to walk), the
        Headers view dropped and no longer kept."""
        kept = packed(self._raw)
        if type(kept) is PackedHeaders:
            self._blob = kept.blob
            self._raw = ()
        self._headers = None

    # -- the request ----------------------------------------------------------

    @property
    def headers(self) -> Headers:
        """The request's headers (names lowercased), read as str."""
        headers = self._headers
        if headers is None:
            blob = self._blob
            if blob is not None:  # kept for a connection's life: made on each read
                return Headers(PackedHeaders(blob))
            headers = self._headers = Headers(self._raw)
        return headers

    @property
    def uri(self) -> str:
        """The request target as sent: path and query, percent-encoded."""
        return self.target.decode("latin-1")

    @property
    def path(self) -> str:
        """The path, percent-decoded, without the query."""
        end = self._query_start
        raw = self.target if end < 0 else self.target[:end]
        return unquote(raw.decode("latin-1"))

    @property
    def query(self) -> str:
        """The raw query string (after `?`), or ""."""
        start = self._query_start
        return "" if start < 0 else self.target[start + 1 :].decode("latin-1")

    def parse_qs(self, encoding: str = "utf-8") -> list[tuple[str, str]]:
        """The query string as (key, value) pairs; `+` and %XX decoded."""
        return parse_qsl(self.query, keep_blank_values=True, encoding=encoding)

    get_variable = staticmethod(get_variable)

    def resource(self, lowercase: bool = False, urldecode: bool = True) -> list[str]:
        """The path split on "/", empty parts dropped: `/USERS/Bob` -> ["USERS", "Bob"]."""
        end = self._query_start
        raw = (self.target if end < 0 else self.target[:end]).decode("latin-1")
        parts = [part for part in raw.split("/") if part]
        if urldecode:
            parts = [unquote(part) for part in parts]
        if lowercase:
            parts = [part.lower() for part in parts]
        return parts

    @property
    def peer(self) -> tuple[str, int]:
        """The client's address: the socket's peer (see `socket_peer`), unless
        that peer is in the server's `trusted_proxies`: then the rightmost
        untrusted X-Forwarded-For address, else X-Real-Ip. Sessions are
        bound to it."""
        host, port = self._conn.peer
        trust = self._conn.server.trust
        if not trust.any:
            return host, port
        return trust.client(host, self.headers), port

    @property
    def socket_peer(self) -> tuple[str, int]:
        """The address of the TCP peer (or the PROXY line's source, which is
        honoured only from a trusted proxy)."""
        return self._conn.peer

    @property
    def local_address(self) -> tuple[str, int]:
        """The server's side of the connection: (ip, port) it was reached on."""
        stream: Any = self._conn.stream
        while not hasattr(stream, "socket"):  # under TLS
            stream = stream.transport_stream
        address = stream.socket.getsockname()
        return address[0], address[1]

    @property
    def cookies(self) -> dict[str, str]:
        """The request's cookies, values unquoted."""
        if self._cookies is None:
            self._cookies = _cookies.parse(self.headers.getall("cookie"))
        return self._cookies

    @property
    def is_websocket(self) -> bool:
        """Whether the request asks for an upgrade to WebSocket."""
        if not self._upgrade:
            return False
        upgrade = self.headers.get("upgrade")
        return upgrade is not None and upgrade.lower() == "websocket"

    @property
    def keep_alive(self) -> bool:
        """Whether the connection stays open after this response."""
        return self._keep_alive

    # -- the request body ---------------------------------------------------------

    async def body(self) -> bytes:
        """The whole body (read now unless the server already did; a large
        body the server put in a temporary file is read back from it)."""
        if self._body_file is not None:
            self._body = self._body_file.read()
            _body.discard_body(self)
        if self._body is None:
            parts = []
            while True:
                part = await self._conn.read_body(self)
                if not part:
                    break
                parts.append(part)
            self._body = b"".join(parts)
        return self._body

    async def body_recv(self) -> bytes:
        """The next piece of the body, or b"" at its end (with
        `auto_recv_body=False`, for streaming uploads)."""
        if self._body_file is not None:
            part = self._body_file.read(_body.PIECE)
            if not part:
                _body.discard_body(self)
            return part
        if self._body is not None:
            part, self._body = self._body, b""
            return part
        return await self._conn.read_body(self)

    async def parse_post(self, encoding: str = "utf-8") -> Any:
        """The body by its Content-Type: form fields as (key, value) pairs;
        multipart as a list of `Part` (large files spooled to disk); raw
        bytes for application/octet-stream; [] for anything else."""
        return await _forms.parse_post(self, encoding)

    # -- cookies and sessions -------------------------------------------------------

    def set_cookie(
        self,
        name: str,
        value: str,
        *,
        max_age: int | None = None,
        path: str | None = None,
        domain: str | None = None,
        secure: bool = False,
        http_only: bool = False,
        same_site: str | None = None,
    ) -> None:
        """Add a Set-Cookie header to the response (before it is sent)."""
        self._check_not_started("set a cookie")
        if self._out_cookies is None:
            self._out_cookies = []
        self._out_cookies.append(
            _cookies.format_set_cookie(
                name, value, max_age, path, domain, secure, http_only, same_site
            )
        )

    def delete_cookie(
        self, name: str, *, path: str | None = None, domain: str | None = None
    ) -> None:
        """Tell the browser to forget a cookie."""
        self.set_cookie(name, "", max_age=0, path=path, domain=domain)

    async def session(self) -> tuple[str, Any]:
        """(session id, state) of this client's session, made if missing;
        a new session sets its cookie on the response."""
        return await self._conn.server.sessions.for_request(self)

    async def save_session_state(self, session_id: str, state: Any) -> None:
        """Store `state` for the session; ValueError if the id is unknown."""
        await self._conn.server.sessions.save(session_id, state, self.peer[0])

    # -- answering ------------------------------------------------------------------

    def _check_not_started(self, what: str) -> None:
        if self._phase != _NOTHING_SENT:
            raise ResponseError(f"cannot {what}: the response was already sent")

    def _head(
        self, status: int, headers: HeadersArg, length: int | None, extra: bytes = b""
    ) -> bytes:
        if headers is None:  # (most answers: nothing to check or encode)
            parts = [status_line(status)]
            names: set[str] | frozenset[str] = _NO_NAMES
        else:
            lines, names = encode_headers(headers)
            parts = [status_line(status), *lines]
        if "server" not in names:
            parts.append(SERVER_LINE)
        if "date" not in names:
            parts.append(date_line())
        if length is not None and "content-type" not in names and status not in _NO_BODY_STATUSES:
            parts.append(_DEFAULT_TYPE)
        if length is not None and status not in _NO_BODY_STATUSES and status >= 200:
            parts.append(b"Content-Length: %d\r\n" % length)
        if self._out_cookies:
            parts.extend(self._out_cookies)
        if extra:
            parts.append(extra)
        conn = self._conn
        if not self._keep_alive or conn.closing:
            self._keep_alive = False
            parts.append(b"Connection: close\r\n")
        elif self.version != "1.1":
            parts.append(b"Connection: keep-alive\r\n")
        parts.append(b"\r\n")
        self.status = status
        return b"".join(parts)

    async def respond(
        self, status: int, headers: HeadersArg = None, body: bytes | str = b""
    ) -> None:
        """Send a whole response: status, headers, body."""
        if self._phase != _NOTHING_SENT:
            self._check_not_started("respond")
        if type(body) is bytes:
            data = body
        else:
            data = body.encode() if isinstance(body, str) else bytes(body)
        conn = self._conn
        extra = b""
        if data and conn.server.options.compress:
            accept = _header(self._raw, b"accept-encoding")
            if accept is None and headers is None:  # (compress_body's answer, sooner)
                extra = _VARY
            else:
                data, extra = compress_body(data, accept, headers)
        if headers is None and not self._out_cookies and self._keep_alive and not conn.closing:
            if self.version == "1.1":
                head = plain_head(status, len(data), extra)
                self.status = status
            else:
                head = self._head(status, headers, len(data), extra)
        else:
            head = self._head(status, headers, len(data), extra)
        self._phase = _DONE
        if self.method == "HEAD" or status in _NO_BODY_STATUSES:
            await conn.write(head, 0)
        else:
            await conn.write(head + data, len(data))

    async def ok(self, body: bytes | str, headers: HeadersArg = None) -> None:
        """`respond(200, headers, body)`."""
        await self.respond(200, headers, body)

    async def redirect(self, url: str, permanent: bool = False) -> None:
        """302 (or 301) to `url`, with an empty body."""
        await self.respond(301 if permanent else 302, {"Location": url}, b"")

    async def file(self, path: str, attachment: bool = False, headers: HeadersArg = None) -> None:
        """Send a file in blocks (never read whole into memory), with its
        Content-Type and Last-Modified; 304 if not modified since; 404 if
        missing. `attachment` asks the browser to save it. A request body
        over 64 KiB not read by then is dropped: the connection holds its
        socket and this file, no third descriptor."""
        self._check_not_started("send a file")
        await _files.send_file(self, path, attachment, headers)

    # Streaming, as misultin: a head without Content-Length, raw data, and the
    # end of the body is the connection's close.

    async def stream_head(self, status: int = 200, headers: HeadersArg = None) -> None:
        """Start a close-delimited body: send status and headers now."""
        self._check_not_started("start a stream")
        self._keep_alive = False
        self._phase = _STREAMING
        await self._conn.write(self._head(status, headers, None), 0)

    async def stream(self, data: bytes | str) -> None:
        """Send raw body data after `stream_head`."""
        if self._phase != _STREAMING:
            raise ResponseError("stream() needs stream_head() first, and no stream_close()")
        payload = data.encode() if isinstance(data, str) else bytes(data)
        if payload and self.method != "HEAD":
            await self._conn.write(payload, len(payload))

    async def stream_close(self) -> None:
        """End the streamed body: the connection closes."""
        if self._phase != _STREAMING:
            raise ResponseError("stream_close() needs an open stream")
        self._phase = _DONE

    # Chunked transfer: a head with Transfer-Encoding: chunked, then chunks.

    async def chunk_head(self, status: int = 200, headers: HeadersArg = None) -> None:
        """Start a chunked body (close-delimited for an HTTP/1.0 client)."""
        self._check_not_started("start chunks")
        if self.version != "1.1":
            await self.stream_head(status, headers)
            self._phase = _CHUNKING
            return
        self._phase = _CHUNKING
        head = self._head(status, headers, None, b"Transfer-Encoding: chunked\r\n")
        await self._conn.write(head, 0)

    async def chunk(self, data: bytes | str) -> None:
        """Send one chunk (an empty one is skipped: it would end the body)."""
        if self._phase != _CHUNKING:
            raise ResponseError("chunk() needs chunk_head() first, and no chunk_end()")
        payload = data.encode() if isinstance(data, str) else bytes(data)
        if not payload or self.method == "HEAD":
            return
        if self.version != "1.1":
            await self._conn.write(payload, len(payload))
        else:
            await self._conn.write(b"%x\r\n%b\r\n" % (len(payload), payload), len(payload))

    async def chunk_end(self) -> None:
        """End the chunked body."""
        if self._phase != _CHUNKING:
            raise ResponseError("chunk_end() needs an open chunked body")
        self._phase = _DONE
        if self.version == "1.1" and self.method != "HEAD":
            await self._conn.write(b"0\r\n\r\n", 0)

    # -- comet ----------------------------------------------------------------------

    def options(self, *, comet: bool = False) -> None:
        """`comet=True`: watch the socket while the handler runs, so that a
        client that goes away is seen at once (`autoexit` ends the handler,
        or it receives "closed")."""
        if comet:
            self._conn.watch_for_close()

    # -- for the connection -----------------------------------------------------------

    @property
    def answered(self) -> bool:
        return self._phase == _DONE

    @property
    def started(self) -> bool:
        return self._phase != _NOTHING_SENT

    def _mark_answered(self, status: int) -> None:
        """The response went out by another way (httpserver.lowlevel)."""
        self._phase = _DONE
        self.status = status


class AccessLog(NamedTuple):
    """What `access_log` receives after each response (misultin's fields)."""

    peer: str
    time: str
    request_line: str
    status: int
    content_length: int
