"""The wsproto backend (`_inbound.py`): wsproto's Connection, with `Limits`
and `BoundedDeflate` as its extensions, events turned into the interface's.

wsproto hands a message over in pieces (one per frame or per read); they
are joined here, so the reader sees whole messages from either backend.

wsproto's Connection (a dozen objects: its frame decoder, buffer, message
decoder...) is made when the first bytes come: a server holds thousands of
idle sockets, and each object they keep is one more for every run of the
cyclic garbage collector to walk.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from wsproto.connection import Connection, ConnectionState, ConnectionType
from wsproto.events import BytesMessage, CloseConnection, Ping, TextMessage
from wsproto.extensions import Extension

from ._inbound import CLOSED, FAIL, PING
from ._limits import Limits

if TYPE_CHECKING:
    from ._limits import BoundedDeflate

__all__ = ["WsprotoInbound"]


class WsprotoInbound:
    """One socket's inbound side on wsproto."""

    __slots__ = ("_conn", "_deflate", "_limits", "_max_fragments", "_max_message", "_parts")

    def __init__(
        self, max_message: int, max_fragments: int, deflate: BoundedDeflate | None, leftover: bytes
    ) -> None:
        self._max_message = max_message
        self._max_fragments = max_fragments
        self._deflate = deflate
        self._conn: Connection | None = None  # made with the first bytes
        self._limits: Limits | None = None
        self._parts: list[Any] | None = None  # of a message that came in pieces so far
        if leftover:
            self.receive_data(leftover)

    def _connect(self) -> Connection:
        limits = self._limits = Limits(self._max_message, self._max_fragments)
        extensions: list[Extension] = [limits]
        deflate = self._deflate
        if deflate is not None:
            deflate.limits = limits
            extensions.append(deflate)
        conn = self._conn = Connection(ConnectionType.SERVER, extensions)
        return conn

    @property
    def size(self) -> int:
        return self._limits.size if self._limits is not None else 0

    def receive_data(self, data: bytes | bytearray) -> None:
        conn = self._conn
        if conn is None:
            conn = self._connect()
        conn.receive_data(data)  # type: ignore[arg-type]  # it takes a bytearray too

    def message(self) -> Any:
        """(`_inbound.py`) Never known here: `events()` parses everything."""
        return None

    def one(self, data: bytes) -> Any:
        """(`_inbound.py`) `data` buffered; never a message here."""
        self.receive_data(data)
        return None

    def events(self) -> Iterator[Any]:
        conn = self._conn
        if conn is None:
            return
        limits = self._limits
        assert limits is not None
        for event in conn.events():
            kind = type(event)
            if kind is TextMessage or kind is BytesMessage:
                data = event.data  # type: ignore[attr-defined]
                parts = self._parts
                if not event.message_finished:  # type: ignore[attr-defined]
                    if parts is None:
                        self._parts = [data]
                    else:
                        parts.append(data)
                    continue
                if parts is not None:
                    parts.append(data)
                    data = "".join(parts) if kind is TextMessage else b"".join(parts)
                    self._parts = None
                elif kind is BytesMessage:
                    data = bytes(data)
                yield data
            elif kind is Ping:
                yield (PING, bytes(event.payload))  # type: ignore[attr-defined]
            elif kind is CloseConnection:
                code: int = event.code  # type: ignore[attr-defined]
                if conn.state is ConnectionState.OPEN:  # the frames were bad
                    why = limits.failure or (code, event.reason or "")  # type: ignore[attr-defined]
                    yield (FAIL, *why)
                else:
                    yield (CLOSED, code)
                return
