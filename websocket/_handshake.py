"""The opening handshake (RFC 6455 section 4.2) on a request httpserver parsed.

Every refusal is one HTTP status: 400 for a malformed upgrade, 403 for an
Origin not allowed, 426 (with the version we speak) for another version.
A permessage-deflate offer (RFC 7692) with an unknown parameter, a bad value
or a repeated parameter is declined, as RFC 7692 section 5 says, and the
next offer, if any, is considered: the socket then opens uncompressed.
"""

from __future__ import annotations

import binascii
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from wsproto.utilities import generate_accept_token

from httpserver import HttpError

from ._limits import BoundedDeflate

if TYPE_CHECKING:
    from httpserver import Req

    from ._options import WsOptions

__all__ = ["Handshake", "negotiate"]

_NO_VALUE = frozenset({"server_no_context_takeover", "client_no_context_takeover"})
_BITS = frozenset({"server_max_window_bits", "client_max_window_bits"})


@dataclass(frozen=True, slots=True)
class Handshake:
    """What was agreed: the 101's headers, and the choices made."""

    headers: dict[str, str]
    subprotocol: str | None
    deflate: BoundedDeflate | None


def _tokens(values: list[str]) -> list[str]:
    return [t.strip() for value in values for t in value.split(",") if t.strip()]


def _refuse(status: int, why: str) -> HttpError:
    return HttpError(status, f"<h1>{status}</h1>\r\n{why}".encode())


def _valid_key(key: str) -> bool:
    try:
        # (base64.b64decode(key, validate=True), without its Python wrapper)
        return len(binascii.a2b_base64(key, strict_mode=True)) == 16
    except (binascii.Error, ValueError):
        return False


_WANTED: Final = frozenset(
    {
        b"connection",
        b"upgrade",
        b"sec-websocket-version",
        b"sec-websocket-key",
        b"origin",
        b"sec-websocket-protocol",
        b"sec-websocket-extensions",
    }
)
_NONE: Final[list[str]] = []  # the values of a header not sent (never mutated)


def _read(req: Req) -> dict[bytes, list[str]]:
    """The values of the headers the handshake reads, by name, in one pass
    over the request's headers (a lookup each walked them all, seven times);
    a name not sent is not there (`_NONE`)."""
    found: dict[bytes, list[str]] = {}
    for name, value in req.headers.raw:
        if name in _WANTED:
            values = found.get(name)
            if values is None:
                found[name] = [value.decode("latin-1")]
            else:
                values.append(value.decode("latin-1"))
    return found


def _has_token(values: list[str], token: str) -> bool:
    """Whether `token` (lowercase) is among the comma-separated values."""
    for value in values:
        for item in value.split(","):
            if item.strip().lower() == token:
                return True
    return False


def _one(values: list[str], name: str) -> str | None:
    """The single value of header `name`; 400 if it was sent more than once."""
    if len(values) > 1:
        raise _refuse(400, f"{name} must be sent once")
    return values[0] if values else None


def deflate_params(offer: str) -> list[str] | None:
    """The parameters of one permessage-deflate offer, normalised, or None
    when the offer must be declined (RFC 7692 sections 5 and 7.1)."""
    name, *params = (p.strip() for p in offer.split(";"))
    if name.lower() != "permessage-deflate":
        return None
    seen: set[str] = set()
    normal = []
    for param in params:
        key, eq, value = (p.strip() for p in param.partition("="))
        key = key.lower()
        if key in seen:
            return None
        seen.add(key)
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1]
        if key in _NO_VALUE:
            if eq:
                return None
            normal.append(key)
        elif key in _BITS:
            valid = value.isdigit() and len(value) <= 2 and 8 <= int(value) <= 15
            if (eq or key == "server_max_window_bits") and not valid:
                return None
            if key == "server_max_window_bits":
                if int(value) < 9:  # zlib cannot deflate with a 256-byte window
                    return None
                normal.append(f"{key}={int(value)}")
            # client_max_window_bits is the client's promise or question: we
            # inflate with the largest window, which reads any smaller one.
        else:
            return None
    return normal


def _negotiate_deflate(values: list[str]) -> tuple[BoundedDeflate, str] | None:
    for offer in _tokens(values):
        params = deflate_params(offer)
        if params is None:
            continue
        deflate = BoundedDeflate()
        answer = deflate.accept("; ".join(["permessage-deflate", *params]))
        assert isinstance(answer, str)  # the parameters were checked above
        return deflate, f"permessage-deflate; {answer}" if answer else "permessage-deflate"
    return None


def negotiate(req: Req, options: WsOptions) -> Handshake:
    """Check the upgrade request; agree on subprotocol and extensions."""
    headers = _read(req)
    if req.method != "GET" or req.version != "1.1":
        raise _refuse(400, "a WebSocket handshake is a GET over HTTP/1.1")
    if not _has_token(headers.get(b"connection", _NONE), "upgrade"):
        raise _refuse(400, "Connection must include Upgrade")
    if not _has_token(headers.get(b"upgrade", _NONE), "websocket"):
        raise _refuse(400, "Upgrade must be websocket")
    if _one(headers.get(b"sec-websocket-version", _NONE), "sec-websocket-version") != "13":
        refusal = _refuse(426, "this server speaks WebSocket version 13 (RFC 6455)")
        refusal.headers = {"Sec-WebSocket-Version": "13", "Upgrade": "websocket"}
        raise refusal
    key = _one(headers.get(b"sec-websocket-key", _NONE), "sec-websocket-key") or ""
    if not _valid_key(key):
        raise _refuse(400, "Sec-WebSocket-Key must be 16 bytes in base64, sent once")
    origins = headers.get(b"origin", _NONE)
    origin = origins[0] if origins else None
    if options.ws_origins is not None and origin not in options.ws_origins:
        raise _refuse(403, f"origin {origin!r} is not allowed")

    answer = {
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Accept": generate_accept_token(key.encode("ascii")).decode("ascii"),
    }
    subprotocol = None
    if options.ws_subprotocols:
        offered = _tokens(headers.get(b"sec-websocket-protocol", _NONE))
        for mine in options.ws_subprotocols:
            if mine in offered:
                subprotocol = mine
                answer["Sec-WebSocket-Protocol"] = mine
                break

    deflate = None
    if options.ws_compress:
        agreed = _negotiate_deflate(headers.get(b"sec-websocket-extensions", _NONE))
        if agreed is not None:
            deflate, answer["Sec-WebSocket-Extensions"] = agreed
    return Handshake(answer, subprotocol, deflate)
