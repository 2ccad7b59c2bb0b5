"""HAProxy's PROXY protocol, version 1: the client's address before HTTP.

The header is peeked at and taken up to its CRLF and no further, so not one
byte of what follows (HTTP, or a TLS handshake) is taken from the socket.
"""

from __future__ import annotations

import ipaddress
import socket

import trio

__all__ = ["ProxyProtocolError", "read_proxy_header"]

_MAX_LINE = 107  # the longest v1 header, CRLF included


class ProxyProtocolError(Exception):
    """The connection did not start with a valid PROXY v1 header."""


async def read_proxy_header(stream: trio.abc.Stream) -> tuple[str, int]:
    """Consume the PROXY line from `stream`; the (address, port) it names.

    Each peek waits for data (trio parks the task until the socket is
    readable). What a peek shows without the line's end is all line, so it
    is taken, and the next peek then waits for bytes not seen yet: no
    polling, and never a byte past the CRLF.
    """
    if not isinstance(stream, trio.SocketStream):
        raise ProxyProtocolError("the PROXY protocol needs a plain TCP socket")
    sock = stream.socket
    taken = b""
    while True:
        peeked = await sock.recv(_MAX_LINE - len(taken), socket.MSG_PEEK)
        if not peeked:
            raise ProxyProtocolError("expected a PROXY v1 line ending in CRLF")
        seen = taken + peeked
        end = seen.find(b"\r\n", max(len(taken) - 1, 0))
        want = len(peeked) if end < 0 else end + 2 - len(taken)
        while want > 0:  # all of it is in the socket's buffer already
            got = await sock.recv(want)
            if not got:
                raise ProxyProtocolError("expected a PROXY v1 line ending in CRLF")
            taken += got
            want -= len(got)
        if end >= 0:
            return parse_proxy_line(taken)
        if len(taken) >= _MAX_LINE:
            raise ProxyProtocolError("expected a PROXY v1 line ending in CRLF")


def parse_proxy_line(line: bytes) -> tuple[str, int]:
    """`PROXY TCP4 src dst sport dport\\r\\n` -> (src, sport)."""
    parts = line.rstrip(b"\r\n").decode("ascii", "replace").split(" ")
    if len(parts) < 2 or parts[0] != "PROXY":
        raise ProxyProtocolError("expected a line starting with 'PROXY '")
    if parts[1] == "UNKNOWN":
        raise ProxyProtocolError("the proxy does not know the client's address (UNKNOWN)")
    if parts[1] not in ("TCP4", "TCP6") or len(parts) != 6:
        raise ProxyProtocolError("expected 'PROXY TCP4|TCP6 src dst sport dport'")
    try:
        source = ipaddress.ip_address(parts[2])
        ipaddress.ip_address(parts[3])
        port = int(parts[4])
        int(parts[5])
    except ValueError:
        raise ProxyProtocolError("bad address or port in the PROXY line") from None
    if (source.version == 4) != (parts[1] == "TCP4") or not 0 <= port <= 65535:
        raise ProxyProtocolError("the PROXY line's addresses do not match its family")
    return str(source), port
