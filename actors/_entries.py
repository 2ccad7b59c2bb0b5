"""The unit that crosses Redis: a signed entry of a node's inbox stream.

An entry carries a batch of frames from one node to another, behind a
header that says who sent it, in which life (creation) of each node, on
which connection (epoch) and at which place in that connection (sequence
number). An HMAC-SHA256 with the cluster's cookie covers header and frames:
whoever can write to Redis without the cookie can neither forge an entry
nor change one, and one replayed or reordered shows by its number.

Frames are decoded one by one (`frames`): a frame is its length, its kind
and its body, so a body that fails to decode is skipped alone. A `SEND`
frame is a message for a local process (its number, then the pickled
message); a `SEND_NAME` frame one for a process registered under a str
(the name, then the message); a `CONTROL` frame is a pickled tuple naming what to do
(`actors._cluster_inbound`). An entry with no frame is a tick: it only
says how far the sender has come, so a receiver notices a lost tail.

`seal` / `unseal` sign one value the same way, for what nodes keep in
Redis outside their inboxes (global names, httpserver's sessions).
"""

from __future__ import annotations

import hmac
import struct
from collections.abc import Iterator
from typing import Final, NamedTuple

from ._wire import WireError

__all__ = [
    "CONTROL",
    "SEND",
    "VERSION",
    "Head",
    "frames",
    "pack",
    "seal",
    "name_prefix",
    "send_frame",
    "send_name_frame",
    "control_frame",
    "unpack",
    "unseal",
]

VERSION: Final = 1
"""The wire's version: in every entry and in each connection's hello. A
node refuses an entry of a version it does not know (and says so)."""

SEND: Final = 1
CONTROL: Final = 2
SEND_NAME: Final = 3

MAC_SIZE: Final = 32
_MAGIC: Final = b"AM"
_HEAD: Final = struct.Struct(">2sBxQQIQBB")  # magic, version, creations, epoch, seq, name lengths
FRAME: Final = struct.Struct(">IB")  # body length, kind
_FRAME: Final = FRAME
_SEND: Final = struct.Struct(">IBQ")  # body length, SEND, the process's number
NUMBER: Final = struct.Struct(">Q")  # a SEND frame's process number, first in its body
_NUMBER: Final = NUMBER
_SEALED: Final = b"AS\x01"


class Head(NamedTuple):
    """What an entry's header says (all of it signed)."""

    version: int
    sender: str
    sender_creation: int
    receiver: str
    receiver_creation: int
    epoch: int
    seq: int


def send_frame(number: int, message: bytes) -> bytes:
    """A frame that delivers `message` (pickled) to the process `number`."""
    return _SEND.pack(len(message) + 8, SEND, number) + message


def name_prefix(name: object) -> bytes | None:
    """What a SEND_NAME frame holds before its message: the name's length
    and UTF-8 bytes; None for a name that is not a str of 255 bytes at most."""
    if type(name) is not str:
        return None
    data = name.encode()
    return bytes((len(data),)) + data if len(data) <= 255 else None


def send_name_frame(prefix: bytes, message: bytes) -> bytes:
    """A frame that delivers `message` (pickled) to the process registered
    under the name in `prefix` (`name_prefix`) on the receiving node."""
    return _FRAME.pack(len(prefix) + len(message), SEND_NAME) + prefix + message


def control_frame(request: bytes) -> bytes:
    """A frame with a pickled control tuple."""
    return _FRAME.pack(len(request), CONTROL) + request


def pack(key: bytes, head: Head, frames: list[bytes]) -> bytes:
    """The signed entry: HMAC, header, names, frames."""
    sender, receiver = head.sender.encode(), head.receiver.encode()
    body = b"".join(
        (
            _HEAD.pack(
                _MAGIC,
                head.version,
                head.sender_creation,
                head.receiver_creation,
                head.epoch,
                head.seq,
                len(sender),
                len(receiver),
            ),
            sender,
            receiver,
            *frames,
        )
    )
    return hmac.digest(key, body, "sha256") + body


def unpack(key: bytes, data: bytes) -> tuple[Head, int]:
    """Check an entry's signature and read its header; the frames follow
    from the offset returned. `WireError` says what is wrong."""
    if len(data) < MAC_SIZE + _HEAD.size:
        raise WireError(f"an entry of {len(data)} bytes is too short")
    view = memoryview(data)
    mac, body = view[:MAC_SIZE], view[MAC_SIZE:]
    if not hmac.compare_digest(mac, hmac.digest(key, body, "sha256")):
        raise WireError("bad signature: not signed with this cluster's cookie")
    magic, version, sent_in, to_in, epoch, seq, sender_len, receiver_len = _HEAD.unpack_from(
        data, MAC_SIZE
    )
    if magic != _MAGIC:
        raise WireError("not an entry of this protocol")
    if version != VERSION:
        raise WireError(f"wire version {version}, this node speaks {VERSION}")
    start = MAC_SIZE + _HEAD.size
    names_end = start + sender_len + receiver_len
    if names_end > len(data):
        raise WireError("a truncated header")
    try:
        sender = data[start : start + sender_len].decode()
        receiver = data[start + sender_len : names_end].decode()
    except UnicodeDecodeError:
        raise WireError("a node name that is not UTF-8") from None
    return Head(version, sender, sent_in, receiver, to_in, epoch, seq), names_end


def frames(data: bytes, offset: int) -> Iterator[tuple[int, int, int, int]]:
    """Each frame of an entry from `offset`: its kind, its process number (a
    SEND frame's; 0 for another kind), and where its value starts and ends
    in `data`. A length that runs past the entry raises `WireError` (only a
    signed entry gets here, so this is a bug of the sender, not an attack)."""
    end = len(data)
    head, number_size = _FRAME.size, _NUMBER.size
    unpack_frame, unpack_number = _FRAME.unpack_from, _NUMBER.unpack_from
    while offset < end:
        if offset + head > end:
            raise WireError("a truncated frame")
        length, kind = unpack_frame(data, offset)
        offset += head
        stop = offset + length
        if stop > end:
            raise WireError("a frame runs past its entry")
        if kind == SEND:
            if length < number_size:
                raise WireError("a truncated send frame")
            yield kind, unpack_number(data, offset)[0], offset + number_size, stop
        else:
            yield kind, 0, offset, stop
        offset = stop


def seal(key: bytes, data: bytes) -> bytes:
    """`data` signed with `key`."""
    body = _SEALED + data
    return hmac.digest(key, body, "sha256") + body


def unseal(key: bytes, sealed: bytes) -> bytes:
    """What `seal` signed; `WireError` if the signature fails."""
    mac, body = sealed[:MAC_SIZE], sealed[MAC_SIZE:]
    if not hmac.compare_digest(mac, hmac.digest(key, body, "sha256")):
        raise WireError("bad signature: not signed with this cluster's cookie")
    if not body.startswith(_SEALED):
        raise WireError("not a sealed value of this protocol")
    return body[len(_SEALED) :]
