"""Framing what the server sends (RFC 6455 section 5.2): unmasked, one frame
per message, the header built with one struct call. Frames for sockets with
permessage-deflate go through wsproto instead, which owns their compressor."""

from __future__ import annotations

import struct
from typing import Final

__all__ = ["BINARY", "TEXT", "frame"]

TEXT: Final = 0x1
BINARY: Final = 0x2

_SHORT = struct.Struct("!BB")
_MEDIUM = struct.Struct("!BBH")
_LONG = struct.Struct("!BBQ")


def frame(data: str | bytes) -> bytes:
    """A whole, final, unmasked frame: text for str, binary for bytes."""
    if isinstance(data, str):
        payload = data.encode()
        first = 0x80 | TEXT
    else:
        payload = bytes(data)
        first = 0x80 | BINARY
    length = len(payload)
    if length < 126:
        return _SHORT.pack(first, length) + payload
    if length < 65536:
        return _MEDIUM.pack(first, 126, length) + payload
    return _LONG.pack(first, 127, length) + payload
