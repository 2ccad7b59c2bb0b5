"""HAProxy's PROXY protocol, version 1: the client's address before HTTP.

The header is peeked at and then read to its exact length, so not one byte
of what follows (HTTP, or a TLS handshake) is taken from the socket.
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
    """Consume the PROXY line from `stream`; the (address, port) it names."""
    if not isinstance(stream, trio.SocketStream):
        raise ProxyProtocolError("the PROXY protocol needs a plain TCP socket")
    sock = stream.socket
    peeked = b""
    while b"\r\n" not in peeked:
        peeked = await sock.recv(_MAX_LINE, socket.MSG_PEEK)
        if not peeked or (len(peeked) >= _MAX_LINE and b"\r\n" not in peeked):
            raise ProxyProtocolError("expected a PROXY v1 line ending in CRLF")
        if b"\r\n" not in peeked:
            await trio.sleep(0.01)  # the rest of the line is on its way
    line = peeked[: peeked.index(b"\r\n") + 2]
    taken = b""
    while len(taken) < len(line):
        taken += await sock.recv(len(line) - len(taken))
    return parse_proxy_line(line)


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
