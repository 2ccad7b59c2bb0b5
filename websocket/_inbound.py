"""The protocol layer the reader reads frames through: two backends, one
interface, so the reader, writer and limits logic exist once.

A backend is sans-IO: `receive_data(bytes)` buffers what the socket gave,
and `events()` parses lazily, one event at a time, so the reader can stop
between messages (ws_max_pending) without anything parsed ahead of it.
`message()` is the common case without a generator: the next message if
the buffer begins with a whole short one, NOTHING if the buffer is empty,
else None (and `events()` takes over). `one(data)` is the commonest read
of all, a whole short message and nothing else: `receive_data(data)` and
`message()` at once, or None with `data` buffered. Each event is one of:

  str | bytes          a whole message (text or binary); `size` is its
                       payload in bytes (UTF-8, inflated), as ws_max_pending
                       counts it
  (PING, payload)      a ping to answer (the reader coalesces pongs)
  (CLOSED, code)       the peer's close frame, valid: the closing handshake
  (FAIL, code, reason) the frames were bad or over a limit: fail the
                       connection with this close code (RFC 6455 7.1.7)

Both backends enforce the same budgets (`_limits.py`: ws_max_message at the
frame header, ws_max_fragments, control frames per second, a bounded
inflate) and map every failure to the same close code.

    ws="wsproto"     wsproto's Connection with our extensions (`_wsproto_inbound`)
    ws="websockets"  a frame decoder on the websockets library's C masking
                     and close-frame parsing (`_websockets_inbound`)
    ws="auto"        websockets when it is importable, else wsproto
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, Final, Protocol

if TYPE_CHECKING:
    from ._limits import BoundedDeflate

__all__ = ["CLOSED", "FAIL", "NOTHING", "PING", "Inbound", "InboundFactory", "backend"]

PING: Final = 1
CLOSED: Final = 2
FAIL: Final = 3
NOTHING: Final = ("$nothing",)
"""From `message()`: no bytes are buffered."""


class Inbound(Protocol):
    """What the reader needs of a protocol backend (see the module doc)."""

    @property
    def size(self) -> int: ...

    def receive_data(self, data: bytes | bytearray) -> None: ...

    def events(self) -> Iterator[Any]: ...

    def message(self) -> Any: ...

    def one(self, data: bytes) -> Any: ...


InboundFactory = Callable[[int, int, "BoundedDeflate | None", bytes], Inbound]
"""(ws_max_message, ws_max_fragments, deflate agreed or None, bytes that
came with the upgrade request) -> a backend for one socket."""


def websockets_available() -> bool:
    """Whether the websockets library can be imported (the speedups extra)."""
    return importlib.util.find_spec("websockets") is not None


def backend(ws: str) -> tuple[str, InboundFactory]:
    """The backend named by the `ws` option: ("wsproto" | "websockets", factory)."""
    if ws == "auto":
        ws = "websockets" if websockets_available() else "wsproto"
    if ws == "websockets":
        from ._websockets_inbound import WebsocketsInbound

        return ws, WebsocketsInbound
    from ._wsproto_inbound import WsprotoInbound

    return "wsproto", WsprotoInbound
