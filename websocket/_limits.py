"""What one client may make the server spend on its messages, counted as
the frames arrive and refused before the work is done.

wsproto calls every extension it is given for every frame it parses, with
the frame's header before its payload. `Limits` is such an extension that
is never negotiated: it sees each header (so a frame declaring more than a
message may hold is refused at once, not after the bytes came) and each
payload (so sizes are UTF-8 bytes, whatever the wire carried).
`BoundedDeflate`, after it in the list, counts what it inflates into the
same budget and inflates no more than what is left of it, so a deflate
bomb is stopped after one budget's worth of output, not after it exploded
in memory. (Limits comes first: wsproto copies a payload once per
extension, and the inflated one is the large one.)
"""

from __future__ import annotations

import zlib
from typing import TYPE_CHECKING, Final

import trio
from wsproto.extensions import Extension, PerMessageDeflate
from wsproto.frame_protocol import CloseReason, Opcode, RsvBits

from . import _close_codes as close_codes

if TYPE_CHECKING:
    from wsproto.frame_protocol import FrameDecoder, FrameProtocol

__all__ = [
    "BYTES_PER_FRAGMENT",
    "CONTROL_FRAMES_PER_SECOND",
    "BoundedDeflate",
    "ControlFrameRate",
    "Limits",
]

BYTES_PER_FRAGMENT: Final = 64
"""Past `ws_max_fragments`, each further fragment must bring this much payload
on average: parsing a frame costs the same whatever its size."""

CONTROL_FRAMES_PER_SECOND: Final = 1000
"""Pings and pongs a client may send in a second before it is closed (1008);
keep-alives come every few seconds, a flood thousands of times faster."""

_NO_RSV: Final = RsvBits(False, False, False)


class ControlFrameRate:
    """Pings and pongs a client sends, per window of one second: past
    CONTROL_FRAMES_PER_SECOND, `over` says so (1008). Shared by both
    protocol backends."""

    __slots__ = ("_count", "_window")

    def __init__(self) -> None:
        self._count = 0
        self._window = 0.0  # when the current window began

    def over(self) -> bool:
        """Count one control frame (not a close); True past the limit."""
        if self._count == 0:  # the first of a window of one second
            self._window = trio.current_time()
        self._count += 1
        if self._count > CONTROL_FRAMES_PER_SECOND:
            now = trio.current_time()
            if now - self._window < 1.0:
                return True
            self._window, self._count = now, 1
        return False


class Limits(Extension):
    """Budgets per message (bytes, fragments) and per second (control
    frames). When one is exceeded, `failure` says which, and wsproto
    fails the connection with its code.

    wsproto may parse a frame header more than once (when the masking key
    has not all arrived yet), so the header is checked with what it would
    add, and counted only once its payload starts."""

    name = "trio-misultin-limits"  # never offered or negotiated

    def __init__(self, max_message: int, max_fragments: int) -> None:
        self.max_message = max_message
        self.max_fragments = max_fragments
        self.size = 0  # payload of the current message so far (inflated)
        self.declared = 0  # wire bytes its frames declared so far
        self.fragments = 0
        self.failure: tuple[int, str] | None = None
        self._header: tuple[Opcode, int, bool] | None = None  # parsed, not yet counted
        self._in_control = False  # the frame being read is a control frame
        self._compressed = False  # the message being read is (BoundedDeflate counts it)
        self._rate = ControlFrameRate()

    def enabled(self) -> bool:
        return True

    def offer(self) -> bool | str:
        return False  # a server never offers

    def left(self) -> int:
        """Bytes the current message may still grow by."""
        return self.max_message - self.size

    def _fail(self, why: tuple[int, str]) -> CloseReason:
        self.failure = why
        return CloseReason(why[0])

    def frame_inbound_header(
        self,
        proto: FrameDecoder | FrameProtocol,
        opcode: Opcode,
        rsv: RsvBits,
        payload_length: int,
    ) -> CloseReason | RsvBits:
        self._header = (opcode, payload_length, rsv.rsv1)
        if opcode >= Opcode.CLOSE:  # a control frame
            return _NO_RSV
        first = opcode is not Opcode.CONTINUATION
        declared = payload_length + (0 if first else self.declared)
        if declared > self.max_message:
            return self._fail(close_codes.TOO_BIG)
        fragments = 1 + (0 if first else self.fragments)
        if fragments > self.max_fragments + declared // BYTES_PER_FRAGMENT:
            return self._fail(close_codes.TOO_MANY_FRAGMENTS)
        return _NO_RSV

    def _count(self, opcode: Opcode, payload_length: int, rsv1: bool) -> CloseReason | None:
        """Count a frame whose payload has started."""
        self._in_control = opcode >= Opcode.CLOSE  # 0x8 and up: control frames
        if self._in_control:
            if opcode is not Opcode.CLOSE and self._rate.over():
                return self._fail(close_codes.TOO_MANY_PINGS)
            return None
        if opcode is not Opcode.CONTINUATION:  # the first frame of a message
            self.size = self.declared = self.fragments = 0
            self._compressed = rsv1
        self.fragments += 1
        self.declared += payload_length
        return None

    def frame_inbound_payload_data(
        self, proto: FrameDecoder | FrameProtocol, data: bytes
    ) -> bytes | CloseReason:
        header = self._header
        if header is not None:  # the frame's payload starts: count the frame, once
            self._header = None
            failed = self._count(*header)
            if failed is not None:
                return failed
        if self._in_control or self._compressed:
            return data
        self.size += len(data)
        if self.size > self.max_message:
            return self._fail(close_codes.TOO_BIG)
        return data

    def frame_inbound_complete(
        self, proto: FrameDecoder | FrameProtocol, fin: bool
    ) -> bytes | CloseReason | None:
        return None

    def frame_outbound(
        self,
        proto: FrameDecoder | FrameProtocol,
        opcode: Opcode,
        rsv: RsvBits,
        data: bytes,
        fin: bool,
    ) -> tuple[RsvBits, bytes]:
        return rsv, data


class BoundedDeflate(PerMessageDeflate):
    """permessage-deflate (RFC 7692) that inflates at most what the
    message's budget has left, plus one byte to tell that it overflowed."""

    def __init__(self, limits: Limits | None = None) -> None:
        super().__init__()
        self.limits = limits

    def _inflate(self, data: bytes) -> bytes | CloseReason:
        decompressor = self._decompressor
        assert decompressor is not None
        limits = self.limits
        try:
            if limits is None:
                return decompressor.decompress(data)
            budget = limits.left()
            out = decompressor.decompress(data, budget + 1)
        except zlib.error:
            return CloseReason.INVALID_FRAME_PAYLOAD_DATA
        if len(out) > budget:
            return limits._fail(close_codes.TOO_BIG)
        limits.size += len(out)
        return out

    def frame_inbound_payload_data(
        self, proto: FrameDecoder | FrameProtocol, data: bytes
    ) -> bytes | CloseReason:
        if not self._inbound_compressed or not self._inbound_is_compressible:
            return data
        return self._inflate(bytes(data))

    def frame_inbound_complete(
        self, proto: FrameDecoder | FrameProtocol, fin: bool
    ) -> bytes | CloseReason | None:
        if not (fin and self._inbound_is_compressible and self._inbound_compressed):
            return super().frame_inbound_complete(proto, fin)
        tail = self._inflate(b"\x00\x00\xff\xff")
        if isinstance(tail, CloseReason):
            return tail
        if self.client_no_context_takeover:
            self._decompressor = None
        self._inbound_compressed = None
        return tail
