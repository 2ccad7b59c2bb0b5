"""The request parser behind a connection: one small interface, two parsers.

The connection process (`_connection`) drives a `Parser` and never sees
which one it has: h11 (`H11Parser`, here: the dependency and the
reference) or llhttp through httptools (`_llhttp.FastParser`, with the
`speedups` extra). Both give the same heads, bodies, leftovers and errors;
the fast one hands every request it is not sure of to an `H11Parser`, so
h11 stays the judge of anything unusual.

A parser serves one request cycle at a time: `next_cycle` begins one (with
the bytes left over from the last), `next_request` gives its head (or
NEED_DATA, or None when the client closed between requests), `next_body`
its body pieces and then its end (the trailer fields, a list). Bytes come
in by `receive_data` (b"" is the end of the stream). A request the parser
refuses raises `ProtocolError` with the status to answer; a chunked body is
refused at its first bad chunk-size line, or the first that passes the body
limit (`_chunks`), before its data comes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cache
from typing import Final, Protocol

import h11

from ._chunks import ChunkGuard
from ._errors import ProtocolError

__all__ = [
    "NEED_DATA",
    "Framing",
    "H11Parser",
    "Head",
    "NeedData",
    "Parser",
    "ProtocolError",
    "RequestHead",
    "have_httptools",
    "new_parser",
    "parser_kind",
]


class NeedData:
    """The type of NEED_DATA: the parser needs more bytes."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "NEED_DATA"


NEED_DATA: Final = NeedData()


class RequestHead(Protocol):
    """A parsed request head (h11.Request is one): header names lowercased."""

    @property
    def method(self) -> bytes: ...
    @property
    def target(self) -> bytes: ...
    @property
    def http_version(self) -> bytes: ...
    @property
    def headers(self) -> Sequence[tuple[bytes, bytes]]: ...


Trailers = list[tuple[bytes, bytes]]


Framing = tuple[int | None, bytes, bool]
"""What a parser found on the way, for `Req`: the Content-Length (None if
none), the Connection header's values lowercased (each after a comma),
and whether the last Expect is 100-continue."""


class Head:
    """A parsed request head, as h11.Request has it, headers in a list;
    `framing`, when the parser filled it, spares `Req` a pass over them."""

    __slots__ = ("framing", "headers", "http_version", "method", "target")

    def __init__(
        self,
        method: bytes,
        target: bytes,
        version: bytes,
        headers: list[tuple[bytes, bytes]],
        framing: Framing | None = None,
    ) -> None:
        self.method = method
        self.target = target
        self.http_version = version
        self.headers = headers
        self.framing = framing


class Parser(Protocol):
    """What the connection asks of a request parser."""

    def next_cycle(self) -> None: ...
    def receive_data(self, data: bytes) -> None: ...
    def next_request(self) -> RequestHead | NeedData | None: ...
    def next_body(self) -> bytes | Trailers | NeedData: ...
    def buffered(self) -> int: ...
    def head_bytes(self) -> bytes | None: ...
    def head_too_large(self) -> bool: ...
    def leftover(self) -> bytes: ...


class H11Parser:
    """h11: a fresh h11.Connection per request cycle, seeded with the bytes
    the previous one left (pipelining). The server writes its responses
    itself, so h11 only ever reads. A chunked body's bytes go past a
    `ChunkGuard` too, which refuses the body as soon as it is bad."""

    __slots__ = (
        "_conn",
        "_empty",
        "_guard",
        "_in_head",
        "_max_body",
        "_max_head",
        "_pieces",
        "_received",
        "_refused",
    )

    def __init__(
        self, max_head: int, max_body: int, data: bytes = b"", closed: bool = False
    ) -> None:
        self._max_head = max_head
        self._max_body = max_body
        self._guard: ChunkGuard | None = None  # while a chunked body comes
        self._refused: ProtocolError | None = None  # what the guard found
        self._conn: h11.Connection | None = None
        self._pieces: list[bytes] = []
        self._received = 0
        self._in_head = True
        self._empty = True  # nothing in h11's buffer: no need to ask it
        self.next_cycle()
        if data:
            self.receive_data(data)
        if closed:
            self.receive_data(b"")

    def next_cycle(self) -> None:
        leftover = self._conn.trailing_data[0] if self._conn is not None else b""
        conn = h11.Connection(h11.SERVER, max_incomplete_event_size=self._max_head)
        self._conn = conn
        if leftover:
            leftover = bytes(leftover)
            conn.receive_data(leftover)
            self._pieces = [leftover]
            self._empty = False
        else:
            self._pieces = []
            self._empty = True
        self._received = len(leftover)
        self._in_head = True
        self._guard = None
        self._refused = None

    def receive_data(self, data: bytes) -> None:
        assert self._conn is not None
        self._conn.receive_data(data)
        self._empty = False
        if self._in_head and data:
            self._pieces.append(data)
            self._received += len(data)
        elif self._guard is not None:
            self._follow(data)

    def _follow(self, data: bytes) -> None:
        """Show the guard more of a chunked body; keep what it refuses for
        `next_body` (data may come while nobody reads the body)."""
        assert self._guard is not None
        try:
            self._guard.feed(data)
        except ProtocolError as exc:
            self._guard = None
            self._refused = exc

    def next_request(self) -> Head | NeedData | None:
        assert self._conn is not None
        if self._empty:
            return NEED_DATA  # (h11's next_event costs as much when it has nothing)
        try:
            event = self._conn.next_event()
        except h11.RemoteProtocolError as exc:
            raise ProtocolError(exc.error_status_hint, str(exc)) from None
        if event is h11.NEED_DATA:
            return NEED_DATA
        if type(event) is h11.Request:
            self._in_head = False
            headers = event.headers
            items = getattr(headers, "_full_items", None)  # (raw name, name, value)
            if items is not None:  # (iterating h11's Headers costs a call per field)
                fields = [(name, value) for _, name, value in items]
            else:
                fields = list(headers)
            if any(name == b"transfer-encoding" for name, _ in fields):
                # h11 took it, so the body is chunked; what came after the
                # head is its beginning.
                self._guard = ChunkGuard(self._max_body)
                self._follow(bytes(self._conn.trailing_data[0]))
            return Head(event.method, event.target, event.http_version, fields)
        return None  # ConnectionClosed

    def next_body(self) -> bytes | Trailers | NeedData:
        assert self._conn is not None
        if self._refused is not None:
            raise self._refused
        try:
            event = self._conn.next_event()
        except h11.RemoteProtocolError as exc:
            raise ProtocolError(exc.error_status_hint, str(exc)) from None
        if event is h11.NEED_DATA:
            return NEED_DATA
        if type(event) is h11.Data:
            return bytes(event.data)
        if type(event) is h11.EndOfMessage:
            return list(event.headers)
        return []  # PAUSED after an Upgrade request: its body (none) has ended

    def buffered(self) -> int:
        assert self._conn is not None
        return len(self._conn.trailing_data[0])

    def head_bytes(self) -> bytes:
        pieces = self._pieces
        return pieces[0] if len(pieces) == 1 else b"".join(pieces)

    def head_too_large(self) -> bool:
        """Whether the head that came whole is over the limit (h11 bounds
        only a head still incomplete)."""
        received = self._received  # (asking h11 what it holds copies its buffer)
        return received > self._max_head and received - self.buffered() > self._max_head

    def leftover(self) -> bytes:
        assert self._conn is not None
        return bytes(self._conn.trailing_data[0])


@cache
def have_httptools() -> bool:
    """Whether httptools (the `speedups` extra) imports: one that is installed
    but broken is as good as none, and "auto" then takes h11."""
    try:
        import httptools  # noqa: F401
    except ImportError:
        return False
    return True


def parser_kind(choice: str) -> str:
    """The parser the `http` option names: "auto" is httptools when installed."""
    if choice == "auto":
        return "httptools" if have_httptools() else "h11"
    return choice


def new_parser(kind: str, max_head: int, max_body: int) -> Parser:
    """A parser of `kind` ("h11" or "httptools") for one connection: heads
    up to `max_head` bytes, chunked bodies refused past `max_body`."""
    if kind == "httptools":
        return (_fast_parser or _import_fast_parser())(max_head, max_body)
    return H11Parser(max_head, max_body)


_fast_parser: Callable[[int, int], Parser] | None = None
"""`_llhttp.FastParser`, once the first connection imported it (with
httptools): a `from` import in `new_parser` cost each connection an
AttributeError (the module's `__path__`)."""


def _import_fast_parser() -> Callable[[int, int], Parser]:
    global _fast_parser
    from ._llhttp import FastParser

    _fast_parser = FastParser
    return FastParser
