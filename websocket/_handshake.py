"""The opening handshake (RFC 6455 section 4.2), on a request h11 parsed.

Every refusal is one HTTP status: 400 for a malformed upgrade, 403 for an
Origin not allowed, 426 (with the version we speak) for another version.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import TYPE_CHECKING

from wsproto.extensions import PerMessageDeflate
from wsproto.handshake import server_extensions_handshake
from wsproto.utilities import generate_accept_token

from httpserver import HttpError
from httpserver._response import SERVER_LINE, date_line

if TYPE_CHECKING:
    from httpserver import Options, Req

__all__ = ["Handshake", "negotiate"]


@dataclass(frozen=True, slots=True)
class Handshake:
    """What was agreed: the 101 response to send, and its choices."""

    response: bytes
    subprotocol: str | None
    deflate: PerMessageDeflate | None


def _tokens(values: list[str]) -> list[str]:
    return [t.strip() for value in values for t in value.split(",") if t.strip()]


def _refuse(status: int, why: str) -> HttpError:
    return HttpError(status, f"<h1>{status}</h1>\r\n{why}".encode())


def _valid_key(key: str) -> bool:
    try:
        return len(base64.b64decode(key, validate=True)) == 16
    except (binascii.Error, ValueError):
        return False


def negotiate(req: Req, options: Options) -> Handshake:
    """Check the upgrade request; agree on subprotocol and extensions."""
    headers = req.headers
    if req.method != "GET" or req.version != "1.1":
        raise _refuse(400, "a WebSocket handshake is a GET over HTTP/1.1")
    if "upgrade" not in [t.lower() for t in _tokens(headers.getall("connection"))]:
        raise _refuse(400, "Connection must include Upgrade")
    if "websocket" not in [t.lower() for t in _tokens(headers.getall("upgrade"))]:
        raise _refuse(400, "Upgrade must be websocket")
    if headers.get("sec-websocket-version") != "13":
        refusal = _refuse(426, "this server speaks WebSocket version 13 (RFC 6455)")
        refusal.headers = {"Sec-WebSocket-Version": "13", "Upgrade": "websocket"}
        raise refusal
    key = headers.get("sec-websocket-key", "") or ""
    if not _valid_key(key):
        raise _refuse(400, "Sec-WebSocket-Key must be 16 bytes in base64")
    origin = headers.get("origin")
    if options.ws_origins is not None and origin not in options.ws_origins:
        raise _refuse(403, f"origin {origin!r} is not allowed")

    subprotocol = None
    offered = _tokens(headers.getall("sec-websocket-protocol"))
    for mine in options.ws_subprotocols:
        if mine in offered:
            subprotocol = mine
            break

    deflate = None
    extensions_header = None
    if options.ws_compress:
        candidate = PerMessageDeflate()
        accepted = server_extensions_handshake(
            _tokens(headers.getall("sec-websocket-extensions")), [candidate]
        )
        if accepted is not None:
            deflate, extensions_header = candidate, accepted

    lines = [
        b"HTTP/1.1 101 Switching Protocols\r\n",
        b"Upgrade: websocket\r\n",
        b"Connection: Upgrade\r\n",
        b"Sec-WebSocket-Accept: %b\r\n" % generate_accept_token(key.encode("ascii")),
        SERVER_LINE,
        date_line(),
    ]
    if subprotocol is not None:
        lines.append(b"Sec-WebSocket-Protocol: %b\r\n" % subprotocol.encode("latin-1"))
    if extensions_header is not None:
        lines.append(b"Sec-WebSocket-Extensions: %b\r\n" % extensions_header)
    lines.append(b"\r\n")
    return Handshake(b"".join(lines), subprotocol, deflate)
