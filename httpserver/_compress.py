"""Response compression by Accept-Encoding (gzip or deflate), q-values honoured."""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Mapping

from ._response import HeadersArg

__all__ = ["choose_encoding", "compress_body"]

_SUPPORTED = ("gzip", "deflate")


def choose_encoding(accept: str | None) -> str | None:
    """The best of gzip/deflate that `accept` allows (q > 0), or None."""
    if not accept:
        return None
    weights: dict[str, float] = {}
    star: float | None = None
    for item in accept.split(","):
        name, _, params = item.strip().partition(";")
        name = name.strip().lower()
        q = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if name == "*":
            star = q
        elif name:
            weights[name] = q
    best, best_q = None, 0.0
    for name in _SUPPORTED:
        q = weights.get(name, star if star is not None else 0.0)
        if q > best_q:
            best, best_q = name, q
    return best


def compress_body(body: bytes, accept: str | None, headers: HeadersArg) -> tuple[bytes, bytes]:
    """(body to send, extra header lines): compressed when the client accepts
    it and the handler did not set its own Content-Encoding."""
    if headers is not None:
        names = {k.lower() for k in (headers if isinstance(headers, Mapping) else dict(headers))}
        if "content-encoding" in names:
            return body, b""
    encoding = choose_encoding(accept)
    if encoding is None:
        return body, b"Vary: Accept-Encoding\r\n"
    if encoding == "gzip":
        data = gzip.compress(body, compresslevel=6, mtime=0)
    else:
        data = zlib.compress(body, 6)
    return data, f"Content-Encoding: {encoding}\r\nVary: Accept-Encoding\r\n".encode()
