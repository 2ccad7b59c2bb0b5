"""Framing what the server sends (RFC 6455 section 5.2): unmasked, one frame
per message, the header built with one struct call. Messages for sockets
with permessage-deflate are framed by their own compressor (`_socket.py`)."""

from __future__ import annotations

import struct
from typing import Final

__all__ = [
    "BINARY",
    "TEXT",
    "TEXT_HEADERS",
    "close_frame",
    "frame",
    "ping_frame",
    "pong_frame",
    "text_frame",
]

TEXT: Final = 0x1
BINARY: Final = 0x2
_CLOSE: Final = 0x8
_PING: Final = 0x9
_PONG: Final = 0xA

_SHORT = struct.Struct("!BB")
TEXT_HEADERS: Final = tuple(bytes((0x80 | TEXT, n)) for n in range(126))
"""The header of a whole text frame of n < 126 bytes, by n: framing the
commonest message is one lookup and one concatenation."""
_MEDIUM = struct.Struct("!BBH")
_LONG = struct.Struct("!BBQ")


def _frame(first: int, payload: bytes) -> bytes:
    length = len(payload)
    if length < 126:
        return _SHORT.pack(first, length) + payload
    if length < 65536:
        return _MEDIUM.pack(first, 126, length) + payload
    return _LONG.pack(first, 127, length) + payload


def frame(data: str | bytes) -> bytes:
    """A whole, final, unmasked frame: text for str, binary for bytes."""
    if isinstance(data, str):
        payload = data.encode()
        first = 0x80 | TEXT
    else:
        payload = bytes(data)
        first = 0x80 | BINARY
    length = len(payload)
    if length < 126:  # `_frame`, written out for the common case
        return _SHORT.pack(first, length) + payload
    return _frame(first, payload)


def text_frame(payload: bytes) -> bytes:
    """A whole, final, unmasked text frame of UTF-8 `payload`."""
    return _frame(0x80 | TEXT, payload)


def close_frame(code: int, reason: str = "") -> bytes:
    """A close frame (section 5.5.1); the reason is cut to fit in 125 bytes,
    on a character boundary."""
    encoded = reason.encode()[:123].decode(errors="ignore").encode()
    return _frame(0x80 | _CLOSE, struct.pack("!H", code) + encoded)


def pong_frame(payload: bytes) -> bytes:
    """A pong carrying a ping's payload (section 5.5.3)."""
    return _frame(0x80 | _PONG, payload)


def ping_frame(payload: bytes) -> bytes:
    """A ping (section 5.5.2), sent to a socket that has been silent."""
    return _frame(0x80 | _PING, payload)
