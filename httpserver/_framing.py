"""What h11 lets through and a server must not: the request checks that stop smuggling.

h11 parses leniently where RFC 9112 lets a parser choose, and some of its
choices are unsafe behind a proxy that chose otherwise. These checks run on
each request head, after h11 has accepted it:

- obs-fold (a header line starting with SP or HTAB) is refused with 400: a
  proxy that does not fold sees other framing headers than h11, which does
  (RFC 9112 5.2 lets a server reject it);
- control characters other than HTAB in the head are refused with 400 (h11
  lets most of them through; RFC 9110 5.5);
- only HTTP/1.0 and HTTP/1.1 are served, 505 otherwise (RFC 9110 15.6.6);
- methods are case-sensitive (RFC 9110 9.1): one with a lowercase letter is
  no method this server implements, 501;
- the target is origin-form, or `*` for OPTIONS; an absolute-form target is
  reduced to its path and query (RFC 9112 3.2.2), so routing (the static
  directory) and the handler see one form only; any other form is 400.

The framing rule for Content-Length beside Transfer-Encoding (chunked wins,
and the connection closes after the response: RFC 9112 6.1, 6.3) lives in
`Req`, where the framing headers are read.
"""

from __future__ import annotations

import re
from typing import Final

from ._errors import HttpError

__all__ = ["HEAD_SCAN", "check_head", "check_request_line", "check_trailers", "target_authority"]

# The first match is the end of the head (a blank line), unless something
# bad comes first: a control character, or a line that starts with SP/HTAB.
HEAD_SCAN: Final = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]|\n[ \t]|\n\r?\n")
_ABSOLUTE: Final = re.compile(rb"[A-Za-z][A-Za-z0-9+.\-]*://([^/?#]*)")


def _bad(why: str) -> HttpError:
    return HttpError(400, f"<h1>400 Bad Request</h1>\r\n{why}".encode())


def check_head(data: bytes) -> None:
    """Refuse a head (the bytes of a request, from its first) with obs-fold
    or a control character. Stops at the head's blank line, so a body or
    the next request after it is not scanned."""
    found = HEAD_SCAN.search(data)
    if found is None:
        return  # no blank line in `data`: h11 would not have accepted it
    matched = found.group()
    if matched[-1:] == b"\n":
        return
    if matched[:1] == b"\n":
        raise _bad("obs-fold (a header line starting with a space or tab) is not accepted")
    raise _bad("a control character in the request head")


def check_request_line(method: bytes, target: bytes, version: bytes) -> bytes:
    """Check the request line that h11 parsed; return the target to serve
    (origin-form, or `*`)."""
    if version != b"1.1" and version != b"1.0":
        raise HttpError(505)
    if method != method.upper():
        raise HttpError(501)
    if target[:1] == b"/":
        return target
    if target == b"*" and method == b"OPTIONS":
        return target
    absolute = _ABSOLUTE.match(target)
    if absolute is None:
        raise _bad("the request target must be a path (or absolute-form)")
    rest = target[absolute.end() :]
    if rest[:1] == b"#":
        rest = b""
    return rest if rest[:1] == b"/" else b"/" + rest


def target_authority(target: bytes) -> bytes | None:
    """The host of an absolute-form target, which RFC 9112 3.2.2 says the
    server uses instead of the Host header; None for any other form."""
    if target[:1] == b"/":
        return None
    absolute = _ABSOLUTE.match(target)
    if absolute is None:
        return None
    authority = absolute.group(1)
    return authority.rpartition(b"@")[2]  # never the userinfo


_CONTROL: Final = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")


def check_trailers(fields: list[tuple[bytes, bytes]]) -> None:
    """Refuse a chunked body's trailer fields with a control character.

    The server discards trailers (RFC 9110 6.5.1 allows it); h11 has
    already unfolded any obs-fold in them, so the connection that carried
    trailers is closed after its response instead (see `read_body`)."""
    for name, value in fields:
        if _CONTROL.search(name) or _CONTROL.search(value):
            raise _bad("a trailer field has a control character")
