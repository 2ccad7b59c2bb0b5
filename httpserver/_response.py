"""Writing responses: status lines, default headers, the Date cache, error pages.

h11 parses requests here but does not write responses: a whole h11 response
costs about as much as parsing the request, and h11 refuses HTTP/1.0
keep-alive and close-delimited streams, both of which misultin speaks. So
responses are joined from pre-encoded bytes, and every header a user gives
is checked for control characters (CR, LF and NUL would break framing) and
for characters that latin-1, the encoding of HTTP/1.1 headers, cannot carry.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Mapping
from email.utils import formatdate
from http import HTTPStatus
from typing import Final

__all__ = [
    "DEFAULT_TYPE",
    "NO_BODY_STATUSES",
    "SERVER",
    "HeadersArg",
    "date_line",
    "encode_headers",
    "error_page",
    "plain_head",
    "reason",
    "status_line",
]

SERVER: Final = "trio-misultin/0.1"
SERVER_LINE: Final = f"Server: {SERVER}\r\n".encode()

HeadersArg = Mapping[str, str] | Iterable[tuple[str, str]] | None

# RFC 9110 renamed a few of the phrases Python 3.11 still knows.
_PHRASES: dict[int, str] = {s.value: s.phrase for s in HTTPStatus} | {
    413: "Content Too Large",
    414: "URI Too Long",
    416: "Range Not Satisfiable",
    422: "Unprocessable Content",
}
_STATUS_LINES: dict[int, bytes] = {
    code: f"HTTP/1.1 {code} {phrase}\r\n".encode() for code, phrase in _PHRASES.items()
}
_BAD_HEADER: Final = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]|[^\x00-\xff]")
_TOKEN: Final = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # fullmatch: `$` passes a final LF
_TOKENS_SEEN: Final[set[str]] = set()  # header names that passed _TOKEN (a regex a name)
_TOKENS_SEEN_MAX: Final = 1024


def reason(status: int) -> str:
    return _PHRASES.get(status, "Unknown")


def status_line(status: int) -> bytes:
    line = _STATUS_LINES.get(status)
    if line is None:
        if not 100 <= status <= 999:
            raise ValueError(f"HTTP status must be from 100 to 999, not {status!r}")
        line = f"HTTP/1.1 {status} {reason(status)}\r\n".encode()
    return line


_date_second = -1
_date_bytes = b""


def date_line() -> bytes:
    """`Date: ...\\r\\n` for now, formatted once per second."""
    global _date_second, _date_bytes
    now = int(time.time())
    if now != _date_second:
        _date_second = now
        _date_bytes = f"Date: {formatdate(now, usegmt=True)}\r\n".encode()
    return _date_bytes


DEFAULT_TYPE: Final = b"Content-Type: text/html; charset=utf-8\r\n"
NO_BODY_STATUSES: Final = frozenset({204, 304})

_heads: dict[tuple[int, int, bytes], bytes] = {}
_heads_second = -1
_HEADS_MAX: Final = 256  # (status, length, extra) combinations kept per second


def plain_head(status: int, length: int, extra: bytes) -> bytes:
    """The head of a whole keep-alive HTTP/1.1 response of `length` body
    bytes with no header of the handler's: status line, Server, Date, the
    default Content-Type and Content-Length, `extra`, the blank line.

    Most responses of a server are a few such heads; each is joined once
    per second (when its Date changes) and kept, instead of once per
    response."""
    global _heads_second
    now = int(time.time())
    if now != _heads_second:
        _heads.clear()
        _heads_second = now
    key = (status, length, extra)
    head = _heads.get(key)
    if head is None:
        parts = [status_line(status), SERVER_LINE, date_line()]
        if status not in NO_BODY_STATUSES:
            parts.append(DEFAULT_TYPE)
            if status >= 200:
                parts.append(b"Content-Length: %d\r\n" % length)
        parts.append(extra)
        parts.append(b"\r\n")
        head = b"".join(parts)
        if len(_heads) < _HEADS_MAX:
            _heads[key] = head
    return head


def encode_headers(headers: HeadersArg) -> tuple[list[bytes], set[str]]:
    """User headers as encoded lines, and the set of their lowercased names.

    Raises ValueError, naming the header, for a name that is not an HTTP
    token, a value with a control character other than HTAB (CR, LF and NUL
    would inject headers), or one latin-1 cannot encode.
    """
    if headers is None:
        return [], set()
    # (a dict, the usual headers, without the ABC's isinstance check)
    items = headers.items() if type(headers) is dict or isinstance(headers, Mapping) else headers
    lines = []
    names = set()
    for name, value in items:
        value = str(value)
        if name not in _TOKENS_SEEN:
            if not _TOKEN.fullmatch(name):
                raise ValueError(f"invalid response header name {name!r}: it must be a token")
            if len(_TOKENS_SEEN) < _TOKENS_SEEN_MAX:
                _TOKENS_SEEN.add(name)
        # Printable ASCII (the usual value) has nothing the regex looks for.
        bad = None if value.isascii() and value.isprintable() else _BAD_HEADER.search(value)
        if bad is not None:
            why = "a control character" if bad.group() < "\x80" else "a character beyond latin-1"
            raise ValueError(
                f"invalid response header {name!r}: {value!r} has {why} ({bad.group()!r});"
                " encode it (e.g. RFC 8187 or percent-encoding) first"
            )
        lines.append(f"{name}: {value}\r\n".encode("latin-1"))
        names.add(name.lower())
    return lines, names


def error_page(status: int) -> bytes:
    """misultin's error body: `<h1>NNN Reason</h1>` and the server's name."""
    return f"<h1>{status} {reason(status)}</h1>\r\n<hr><i>{SERVER}</i>".encode()
