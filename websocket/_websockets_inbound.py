"""The websockets backend (`_inbound.py`): a streaming frame decoder that
unmasks with the websockets library's C `apply_mask`.

Why not `websockets.protocol.Protocol` (or `Frame.parse`) whole: they hand
over a frame only once all its payload came. This server refuses a frame
at its header when the message's fragments are over budget, and fails a
text message at the first invalid UTF-8 byte, even in the middle of a
frame still arriving (RFC 6455 section 8.1, "fail fast": Autobahn's 6.4.3
and 6.4.4 are NON-STRICT otherwise), exactly as the wsproto backend does.
So the header is parsed here and the payload is unmasked, inflated (within
the message's budget) and checked as it arrives; a whole frame already in
the buffer (the common case) takes one short path.

Every failure is the wsproto backend's close code; close frames are
checked by the same rules (codes 1000-1003, 1007-1013, 3000-4999).
"""

from __future__ import annotations

import codecs
import struct
import zlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Final

try:
    from websockets.speedups import apply_mask
except ImportError:  # pragma: no cover - websockets built without its C extension
    from websockets.utils import apply_mask

from . import _close_codes as close_codes
from ._inbound import CLOSED, FAIL, NOTHING, PING
from ._limits import BYTES_PER_FRAGMENT, ControlFrameRate

if TYPE_CHECKING:
    from ._limits import BoundedDeflate

__all__ = ["WebsocketsInbound"]

_CONT: Final = 0x0
_TEXT: Final = 0x1
_CLOSE: Final = 0x8
_PING: Final = 0x9
_OPCODES: Final = frozenset({0x0, 0x1, 0x2, 0x8, 0x9, 0xA})
_VALID_CLOSE: Final = frozenset({1000, 1001, 1002, 1003, *range(1007, 1014)})
_TAIL: Final = b"\x00\x00\xff\xff"  # RFC 7692 section 7.2.2
_H = struct.Struct("!H")
_Q = struct.Struct("!Q")
_utf8_decoder = codecs.getincrementaldecoder("utf-8")


class WebsocketsInbound:
    """One socket's inbound side: frames in, the interface's events out."""

    __slots__ = (
        "_buf",
        "_compressed",
        "_declared",
        "_done",
        "_fin",
        "_fragments",
        "_inflater",
        "_mask",
        "_max_fragments",
        "_max_message",
        "_need",
        "_offset",
        "_opcode",
        "_parts",
        "_pos",
        "_rate",
        "_reset_inflater",
        "_text",
        "_utf8",
        "_with_deflate",
        "size",
    )

    def __init__(
        self, max_message: int, max_fragments: int, deflate: BoundedDeflate | None, leftover: bytes
    ) -> None:
        self._max_message = max_message
        self._max_fragments = max_fragments
        self._buf: bytes | bytearray = bytes(leftover)
        self._pos = 0
        self._done = False
        self.size = 0  # of the message being read, then of the last one yielded
        # The frame being read, once its header is parsed:
        self._need = -1  # payload bytes still to come (-1: at a header)
        self._mask = b""
        self._offset = 0
        self._opcode = 0
        self._fin = True
        # The message being read:
        self._text: bool | None = None  # None: no message in progress
        self._compressed = False
        self._parts: list[Any] | None = None  # made per message in pieces: idle sockets are many
        self._utf8: Any = None  # incremental decoder, for text in pieces
        self._declared = 0
        self._fragments = 0
        # Control frames in the current one-second window:
        self._rate: ControlFrameRate | None = None  # made by the first ping: idle sockets are many
        # permessage-deflate, when agreed: we inflate with the largest window,
        # which reads any smaller one.
        self._with_deflate = deflate is not None
        self._reset_inflater = deflate is not None and bool(deflate.client_no_context_takeover)
        self._inflater: Any = zlib.decompressobj(-15) if deflate is not None else None

    def receive_data(self, data: bytes | bytearray) -> None:
        pos = self._pos
        if pos >= len(self._buf):
            self._buf = data
        else:
            self._buf = self._buf[pos:] + data
        self._pos = 0

    def message(self) -> Any:
        """(`_inbound.py`) The next message if the buffer begins with a whole,
        unfragmented, uncompressed data frame of under 126 bytes, valid,
        with no message in progress and no frame begun (a control frame's
        header read, its payload still to come): `events()`' short path for
        the most common frame, without a generator. NOTHING if nothing is
        buffered; else None, with nothing consumed (`events()` then parses,
        failures included)."""
        buf = self._buf
        pos = self._pos
        have = len(buf) - pos
        if have < 6 or self._need >= 0 or self._text is not None or self._done:
            return NOTHING if have == 0 and not self._done else None
        b0 = buf[pos]
        length = buf[pos + 1] - 0x80  # masked, or not this path
        start = pos + 6
        end = start + length
        if not 0 <= length < 126 or (b0 != 0x81 and b0 != 0x82) or end > len(buf):
            return None
        if length > self._max_message:
            return None
        payload = apply_mask(buf[start:end], buf[pos + 2 : start])
        message: str | bytes = payload
        if b0 == 0x81:
            try:
                message = payload.decode()
            except UnicodeDecodeError:
                return None  # events() fails it (1007)
        self._pos = end
        self.size = length
        return message

    def one(self, data: bytes) -> Any:
        """(`_inbound.py`) The message `data` is when it is exactly one whole,
        unfragmented, uncompressed data frame of under 126 bytes, valid,
        and nothing else is buffered or in progress: `message()`'s path
        without buffering `data` first (the commonest read, an echo's or a
        chat's). Else None, with `data` buffered for `message()` and
        `events()` (failures included)."""
        size = len(data) - 6
        if (
            0 <= size < 126
            and data[1] == 0x80 | size
            and self._pos >= len(self._buf)
            and self._need < 0
            and self._text is None
            and not self._done
            and size <= self._max_message
        ):
            b0 = data[0]
            if b0 == 0x82:
                self.size = size
                return apply_mask(data[6:], data[2:6])
            if b0 == 0x81:
                try:
                    message = apply_mask(data[6:], data[2:6]).decode()
                except UnicodeDecodeError:
                    pass  # events() fails it (1007)
                else:
                    self.size = size
                    return message
        self.receive_data(data)
        return None

    def events(self) -> Iterator[Any]:
        while not self._done:
            buf = self._buf
            pos = self._pos
            if self._need < 0:  # a frame header
                if len(buf) - pos < 2:
                    return
                b0 = buf[pos]
                b1 = buf[pos + 1]
                length = b1 & 0x7F
                size = len(buf) - pos
                # The short path: a whole unfragmented, uncompressed data
                # frame of less than 64 KiB is here, and no message is in
                # progress.
                if (b0 == 0x81 or b0 == 0x82) and b1 >= 0x80 and self._text is None:
                    header = 6
                    if length == 126 and size >= 4:
                        length = _H.unpack_from(buf, pos + 2)[0]
                        header = 8 if length >= 126 else 0  # not the shortest form: below
                    if header and length != 127 and size >= header + length:
                        if length > self._max_message:
                            yield self._fail(close_codes.TOO_BIG)
                            return
                        end = pos + header + length
                        payload = apply_mask(
                            buf[pos + header : end], buf[end - length - 4 : end - length]
                        )
                        self._pos = end
                        self.size = length
                        if b0 == 0x81:
                            try:
                                yield payload.decode()
                            except UnicodeDecodeError:
                                yield self._fail((1007, "invalid UTF-8 in a text message"))
                                return
                        else:
                            yield payload
                        continue
                    length = b1 & 0x7F
                failed = self._check_start(b0, b1)
                if failed is not None:
                    yield failed
                    return
                if length < 126:
                    header = 6
                elif length == 126:
                    header = 8
                else:
                    header = 14
                if size < header:
                    return
                if length == 126:
                    length = _H.unpack_from(buf, pos + 2)[0]
                    if length < 126:
                        yield self._fail((1002, "a 16-bit length where 7 bits suffice"))
                        return
                elif length == 127:
                    length = _Q.unpack_from(buf, pos + 2)[0]
                    if length >> 63:
                        yield self._fail((1002, "a 64-bit length with its top bit set"))
                        return
                    if length < 65536:
                        yield self._fail((1002, "a 64-bit length where 16 bits suffice"))
                        return
                failed = self._start_frame(b0, length)
                if failed is not None:
                    yield failed
                    return
                self._mask = bytes(buf[pos + header - 4 : pos + header])
                self._offset = 0
                self._need = length
                self._pos = pos = pos + header
            # The payload of the current frame.
            need = self._need
            have = len(buf) - pos
            opcode = self._opcode
            if opcode >= _CLOSE:  # a control frame: whole (at most 125 bytes)
                if have < need:
                    return
                payload = apply_mask(buf[pos : pos + need], self._mask)
                self._pos = pos + need
                self._need = -1
                if opcode == _PING:
                    yield (PING, payload)
                elif opcode == _CLOSE:
                    self._done = True
                    yield self._close(payload)
                    return
                continue  # a pong: nothing to do
            if have == 0 and need > 0:
                return
            take = need if have >= need else have
            offset = self._offset & 3
            mask = self._mask if offset == 0 else self._mask[offset:] + self._mask[:offset]
            chunk = apply_mask(buf[pos : pos + take], mask)
            self._pos = pos + take
            self._offset += take
            need = self._need = need - take
            last = need == 0 and self._fin
            piece = self._payload(chunk, last)
            if type(piece) is tuple:
                yield piece
                return
            parts = self._parts
            if parts is None:
                parts = self._parts = []
            if piece:
                parts.append(piece)
            if need == 0:
                self._need = -1
                if last:
                    self._parts = None
                    text = self._text
                    self._text = None
                    self._utf8 = None
                    if len(parts) == 1:
                        yield parts[0]
                    else:
                        yield "".join(parts) if text else b"".join(parts)

    # -- frames --------------------------------------------------------------------

    def _check_start(self, b0: int, b1: int) -> tuple[int, int, str] | None:
        """What the first two bytes of a frame already tell (RFC 6455 5.2)."""
        opcode = b0 & 0x0F
        if b0 & 0x30:
            return self._fail((1002, "reserved bits must be 0"))
        if opcode not in _OPCODES:
            return self._fail((1002, f"unknown opcode {opcode:#x}"))
        if not b1 & 0x80:
            return self._fail((1002, "a client frame must be masked"))
        if opcode >= _CLOSE:
            if not b0 & 0x80:
                return self._fail((1002, "a fragmented control frame"))
            if b1 & 0x7F > 125:
                return self._fail((1002, "a control frame over 125 bytes"))
            if b0 & 0x40:
                return self._fail((1002, "reserved bits must be 0"))
            return None
        if opcode == _CONT:
            if self._text is None:
                return self._fail((1002, "a continuation frame without a message"))
            if b0 & 0x40:
                return self._fail((1002, "RSV1 on a continuation frame"))
        else:
            if self._text is not None:
                return self._fail((1002, "a new message before the last one ended"))
            if b0 & 0x40 and not self._with_deflate:
                return self._fail((1002, "RSV1 without permessage-deflate"))
        return None

    def _start_frame(self, b0: int, length: int) -> tuple[int, int, str] | None:
        """Count a frame whose header is whole, against the budgets of
        `_limits.py`, before any of its payload is read."""
        opcode = b0 & 0x0F
        self._opcode = opcode
        self._fin = bool(b0 & 0x80)
        if opcode >= _CLOSE:
            if opcode != _CLOSE:
                rate = self._rate
                if rate is None:
                    rate = self._rate = ControlFrameRate()
                if rate.over():
                    return self._fail(close_codes.TOO_MANY_PINGS)
            return None
        first = opcode != _CONT
        declared = length + (0 if first else self._declared)
        if declared > self._max_message:
            return self._fail(close_codes.TOO_BIG)
        fragments = 1 + (0 if first else self._fragments)
        if fragments > self._max_fragments + declared // BYTES_PER_FRAGMENT:
            return self._fail(close_codes.TOO_MANY_FRAGMENTS)
        self._declared = declared
        self._fragments = fragments
        if first:
            self._text = opcode == _TEXT
            self._compressed = bool(b0 & 0x40)
            self.size = 0
            if self._compressed and self._reset_inflater:
                self._inflater = zlib.decompressobj(-15)
        return None

    def _payload(self, chunk: bytes, last: bool) -> Any:
        """A piece of a data frame's payload, unmasked: inflated and decoded
        as far as it goes; or a FAIL event."""
        if self._compressed:
            data = self._inflate(chunk)
            if type(data) is tuple:
                return data
            if last:
                tail = self._inflate(_TAIL)
                if type(tail) is tuple:
                    return tail
                data += tail
        else:
            data = chunk
            self.size += len(data)
            if self.size > self._max_message:
                return self._fail(close_codes.TOO_BIG)
        if not self._text:
            return data
        utf8 = self._utf8
        try:
            if utf8 is None:
                if last and self._parts is None:
                    return data.decode()
                utf8 = self._utf8 = _utf8_decoder()
            return utf8.decode(data, last)
        except UnicodeDecodeError:
            return self._fail((1007, "invalid UTF-8 in a text message"))

    def _inflate(self, data: bytes) -> Any:
        """Inflate at most what the message's budget has left (plus one byte
        to tell that it overflowed): a deflate bomb stops at the budget."""
        budget = self._max_message - self.size
        try:
            out: bytes = self._inflater.decompress(data, budget + 1)
        except zlib.error:
            return self._fail((1007, "bad compressed data"))
        if len(out) > budget:
            return self._fail(close_codes.TOO_BIG)
        self.size += len(out)
        return out

    def _close(self, payload: bytes) -> tuple[Any, ...]:
        """The peer's close frame (RFC 6455 5.5.1, 7.4): CLOSED, or FAIL."""
        if not payload:
            return (CLOSED, 1005)
        if len(payload) == 1:
            return self._fail((1002, "a close frame of one byte"))
        code = _H.unpack_from(payload)[0]
        if code not in _VALID_CLOSE and not 3000 <= code <= 4999:
            return self._fail((1002, f"close code {code} is not one a peer may send"))
        try:
            payload[2:].decode()
        except UnicodeDecodeError:
            return self._fail((1007, "invalid UTF-8 in a close reason"))
        return (CLOSED, code)

    def _fail(self, why: tuple[int, str]) -> tuple[int, int, str]:
        self._done = True
        return (FAIL, why[0], why[1])
