"""The chunk-size lines of a chunked request body, checked as their bytes come.

h11 decodes chunked bodies (for both parsers: llhttp hands them to it), but
it reads a chunk-size line only once its CRLF has come, takes up to 20 hex
digits (a size of 2**80) and any chunk extension, and then waits for the
announced bytes. So a client that announces more than `post_max_size`, or
sends a size line that never ends, held the connection until the body
deadline, and 413 came only once the bytes had been sent.

`ChunkGuard` follows the bytes h11 is given, framing them as h11 does (a
line up to its CRLF, that many bytes of data, CRLF) and only counting the
data, and refuses a body at the first byte that makes it bad:

- 413 once the sizes announced so far add up to more than the limit, even
  while the line that announces it is still coming;
- 400 for a line that is not `1*HEXDIG [";" chunk-ext] *(SP / HTAB)` (RFC
  9112 7.1, with the trailing whitespace h11 allows), or is longer than
  `MAX_LINE` bytes (extensions included, as Go's net/http limits it), or
  for data not followed by CRLF.

It stops at the last chunk (size 0): the trailer section is h11's to judge.
"""

from __future__ import annotations

import re
from typing import Final

from ._errors import ProtocolError

__all__ = ["MAX_LINE", "ChunkGuard"]

MAX_LINE: Final = 4096  # bytes of a chunk-size line, its CRLF included

_HEX: Final = re.compile(rb"[0-9A-Fa-f]*")
# What a line can be without its CRLF, and what its beginning can be.
_LINE: Final = re.compile(rb"[0-9A-Fa-f]+(?:;[^\n]*)?[ \t]*")
_BEGUN: Final = re.compile(rb"[0-9A-Fa-f]*|[0-9A-Fa-f]+(?:;[^\n]*|[ \t]*\r?)")

_SIZE_LINE, _DATA, _DATA_END, _LAST = range(4)


def _bad(why: str) -> ProtocolError:
    return ProtocolError(400, why)


class ChunkGuard:
    """One chunked body's framing, followed byte for byte (sans-IO)."""

    __slots__ = ("_announced", "_left", "_limit", "_line", "_state")

    def __init__(self, limit: int) -> None:
        self._limit = limit  # post_max_size
        self._announced = 0  # the sizes of the chunks so far, added up
        self._state = _SIZE_LINE
        self._line = b""  # the size line so far
        self._left = 0  # data bytes of this chunk not seen yet, or of its CRLF

    def feed(self, data: bytes) -> None:
        """Follow `data`, the next bytes of the body (and maybe of what comes
        after it); raise ProtocolError (413 or 400) if they make it bad."""
        pos, size = 0, len(data)
        while pos < size:
            state = self._state
            if state == _DATA:
                step = min(self._left, size - pos)
                pos += step
                self._left -= step
                if not self._left:
                    self._state, self._left = _DATA_END, 2
            elif state == _DATA_END:
                step = min(self._left, size - pos)
                expected = b"\r\n"[2 - self._left : 2 - self._left + step]
                if data[pos : pos + step] != expected:
                    raise _bad("a chunk's data is not followed by CRLF")
                pos += step
                self._left -= step
                if not self._left:
                    self._state = _SIZE_LINE
            elif state == _SIZE_LINE:
                pos = self._size_line(data, pos)
            else:  # the last chunk: the trailers, and what follows the body
                return

    def _size_line(self, data: bytes, pos: int) -> int:
        """Take the size line's bytes from `data[pos:]`; where they end."""
        end = data.find(b"\n", pos)
        stop = len(data) if end < 0 else end + 1
        line = self._line + data[pos:stop]
        if len(line) > MAX_LINE:
            raise _bad(f"a chunk-size line longer than {MAX_LINE} bytes")
        if end < 0:  # the line goes on
            if not _BEGUN.fullmatch(line):
                raise _bad("a malformed chunk-size line")
            self._count(line)
            self._line = line
            return stop
        self._line = b""
        if line[-2:] != b"\r\n" or not _LINE.fullmatch(line, 0, len(line) - 2):
            raise _bad("a malformed chunk-size line")
        chunk = self._count(line)
        self._announced += chunk
        if chunk:
            self._state, self._left = _DATA, chunk
        else:
            self._state = _LAST
        return stop

    def _count(self, line: bytes) -> int:
        """The size `line` announces (so far: more digits only add to it);
        413 if the body would then pass the limit."""
        found = _HEX.match(line)
        digits = found.group().lstrip(b"0") if found else b""
        room = self._limit - self._announced
        # (a size with more hex digits than the room cannot fit: no int() of
        # thousands of digits for a line made of them)
        if len(digits) > (room.bit_length() + 3) // 4 or (digits and int(digits, 16) > room):
            raise ProtocolError(413, "the chunks announce more than post_max_size")
        return int(digits, 16) if digits else 0
