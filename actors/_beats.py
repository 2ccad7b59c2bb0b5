"""A node's heartbeat value: what its key in Redis holds, signed.

    CREATION:FLAGS:BEAT:TTL:MAC

`BEAT` counts the node's beats, so the value changes each time: a node
sees whether its previous value is still there (else it was taken for
down, or Redis lost it), and the others see it advance (a value that
stops advancing is a node that stopped, even if someone keeps its key).
`TTL` is the node's own key TTL in ms (`heartbeat` times `missed`), by which
the others judge it, whatever their own settings. `FLAGS` is "h" for a
hidden node. `MAC` is an HMAC with the cookie over
the node's name and the rest: a key written by anyone without the cookie,
or copied from another node, is refused (and logged), never believed.
"""

from __future__ import annotations

import hmac
from typing import Final, NamedTuple

__all__ = ["Beat", "beat_value", "parse_beat"]

_MAC_HEX: Final = 32  # 16 bytes of HMAC-SHA256, in hex
_MAX_DIGITS: Final = 20


class Beat(NamedTuple):
    creation: int
    hidden: bool
    number: int
    ttl_ms: int


def _mac(key: bytes, name: str, body: str) -> str:
    return hmac.digest(key, f"{name}\x00{body}".encode(), "sha256")[: _MAC_HEX // 2].hex()


def beat_value(key: bytes, name: str, beat: Beat) -> bytes:
    body = f"{beat.creation}:{'h' if beat.hidden else ''}:{beat.number}:{beat.ttl_ms}"
    return f"{body}:{_mac(key, name, body)}".encode()


def parse_beat(key: bytes, name: str, value: bytes) -> Beat | None:
    """The beat in `value`, or None if it is malformed or not signed for
    `name` with this cluster's cookie."""
    if len(value) > 4 * _MAX_DIGITS + _MAC_HEX + 4:
        return None
    try:
        text = value.decode("ascii")
    except UnicodeDecodeError:
        return None
    parts = text.split(":")
    if len(parts) != 5:
        return None
    creation, flags, count, ttl, mac = parts
    numbers = (creation, count, ttl)
    if not all(n.isdigit() and len(n) <= _MAX_DIGITS for n in numbers) or flags not in ("", "h"):
        return None
    if len(mac) != _MAC_HEX:
        return None
    body = f"{creation}:{flags}:{count}:{ttl}"
    if not hmac.compare_digest(mac, _mac(key, name, body)):
        return None
    return Beat(int(creation), flags == "h", int(count), int(ttl))
