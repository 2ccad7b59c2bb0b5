"""Every way the server ends a socket, and the close frame it sends for it
(RFC 6455 section 7.4.1), in one table."""

from __future__ import annotations

from typing import Any, Final

import actors.lowlevel

__all__ = [
    "CLIENT_NOT_READING",
    "GOING_AWAY",
    "HANDLER_CRASHED",
    "INTERNAL_ERROR",
    "NORMAL",
    "PING_TIMEOUT",
    "TOO_BIG",
    "TOO_MANY_FRAGMENTS",
    "TOO_MANY_PINGS",
    "for_handler_exit",
]

NORMAL: Final = (1000, "")
GOING_AWAY: Final = (1001, "the server is going away")
CLIENT_NOT_READING: Final = (1008, "the client is not reading")
TOO_MANY_PINGS: Final = (1008, "too many pings while the client is not reading")
TOO_BIG: Final = (1009, "message too big")
TOO_MANY_FRAGMENTS: Final = (1009, "too many fragments in one message")
HANDLER_CRASHED: Final = (1011, "the handler crashed")
INTERNAL_ERROR: Final = (1011, "internal error")  # a bug of the server's own
PING_TIMEOUT: Final = (1011, "ping timeout")


def for_handler_exit(reason: Any) -> tuple[int, str]:
    """The handler ended: 1000 on purpose ("normal", "shutdown",
    ("shutdown", x)), 1011 for anything else."""
    return NORMAL if actors.lowlevel.is_normal_exit(reason) else HANDLER_CRASHED
