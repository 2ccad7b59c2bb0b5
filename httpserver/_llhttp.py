"""The fast request parser: llhttp (through httptools) for the plain requests,
h11 for every other one, so that both parsers give the same answers.

Most requests are plain: a request line with single spaces, CRLF line ends,
header fields with at most one Host, no Transfer-Encoding, a body framed by
Content-Length or none. For those llhttp splits the head in C and this
module frames the body itself (counting Content-Length bytes is all h11
does too). Anything else is replayed, from the first byte of the request,
into an `H11Parser`, which then serves the rest of that request cycle: a
head llhttp refuses or might read otherwise than h11 (bare LF, a blank line
first, a doubled space, duplicate Content-Length, obs-fold, control
characters, an unknown method), a missing or repeated Host, any
Transfer-Encoding (chunked bodies, trailers and their errors are h11's), a
head that outgrows the limit, or a client that closes mid-head. So the
statuses, the header lists (lowercased names, values without surrounding
whitespace, one Content-Length) and the leftovers are h11's by construction.

Only a whole head is fed to llhttp (found with the same scan as
`_framing.check_head`), never the bytes after it: the next pipelined
request stays in our buffer until its cycle, and llhttp is started afresh
after a request with a body or an upgrade.
"""

from __future__ import annotations

from typing import Final

import httptools

from ._errors import ProtocolError
from ._framing import HEAD_SCAN
from ._parsing import NEED_DATA, H11Parser, Head, NeedData, RequestHead, Trailers

__all__ = ["FastParser", "plain_lines"]

_END: Final[list[tuple[bytes, bytes]]] = []  # a body's end without trailers (never mutated)
_OWS: Final = (b" ", b"\t")
# Every byte but the control characters HEAD_SCAN refuses: `translate`
# deletes them all, and leaves only those.
_NOT_CONTROL: Final = bytes(
    b for b in range(256) if not (b <= 0x08 or b in (0x0B, 0x0C) or 0x0E <= b <= 0x1F or b == 0x7F)
)


def plain_lines(lines: bytes) -> bool:
    """Whether HEAD_SCAN's first match in `lines + b"\\r\\n"` is that last,
    blank line (`lines`: a head up to its blank line, each line with its
    CRLF): no control character, no LF without its CR, no obs-fold. A few
    passes of C over the head where the regex tried its alternatives at
    every byte; when this says no, HEAD_SCAN says what came first."""
    return (
        not lines.translate(None, _NOT_CONTROL)
        and lines.count(b"\n") == lines.count(b"\r\n")
        and lines.find(b"\n ") < 0
        and lines.find(b"\n\t") < 0
    )


class FastParser:
    """llhttp for plain heads; an `H11Parser` for the cycle of any other."""

    __slots__ = (
        "_buf",
        "_complete",
        "_eof",
        "_expect",
        "_h11",
        "_head_size",
        "_headers",
        "_hosts",
        "_left",
        "_length",
        "_llhttp",
        "_max_body",
        "_max_head",
        "_odd",
        "_scan",
        "_tokens",
        "_url",
    )

    def __init__(self, max_head: int, max_body: int) -> None:
        self._max_head = max_head
        self._max_body = max_body  # for the chunked bodies h11 reads
        self._buf = b""  # received, not yet handed out
        self._eof = False
        self._scan = 0  # where the search for the head's end goes on
        self._h11: H11Parser | None = None  # this cycle's judge, when there is one
        self._llhttp: httptools.HttpRequestParser | None = None
        self._left = 0  # Content-Length body bytes not yet handed out
        self._head_size = 0
        self._url = b""
        self._headers: list[tuple[bytes, bytes]] = []
        self._hosts = 0
        self._length: bytes | None = None
        self._tokens = b""  # the Connection header's values, for Req
        self._expect = False  # the last Expect is 100-continue
        self._odd = False  # a header that h11 must judge
        self._complete = False

    # -- llhttp's callbacks ---------------------------------------------------------

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        name = name.lower()
        if value[-1:] in _OWS:
            value = value.rstrip(b" \t")
        if name == b"host":
            self._hosts += 1
        elif name == b"content-length":
            self._length = value
        elif name == b"transfer-encoding":
            self._odd = True
        elif name == b"connection":
            self._tokens += b"," + value.lower()
        elif name == b"expect":
            self._expect = value.lower() == b"100-continue"
        self._headers.append((name, value))

    def on_message_complete(self) -> None:
        self._complete = True

    # -- the Parser interface -----------------------------------------------------

    def next_cycle(self) -> None:
        judge = self._h11
        if judge is not None:
            self._h11 = None
            self._buf = judge.leftover()
        self._scan = 0
        self._head_size = 0

    def receive_data(self, data: bytes) -> None:
        if not data:
            self._eof = True
        if self._h11 is not None:
            self._h11.receive_data(data)
        elif data:
            self._buf = self._buf + data if self._buf else data

    def buffered(self) -> int:
        if self._h11 is not None:
            return self._h11.buffered()
        return len(self._buf)

    def head_bytes(self) -> bytes | None:
        """None: this head was checked on the way (the scan found its end
        before any control character or obs-fold)."""
        if self._h11 is not None:
            return self._h11.head_bytes()
        return None

    def head_too_large(self) -> bool:
        if self._h11 is not None:
            return self._h11.head_too_large()
        return self._head_size > self._max_head

    def leftover(self) -> bytes:
        if self._h11 is not None:
            return self._h11.leftover()
        return self._buf

    def next_request(self) -> RequestHead | NeedData | None:
        if self._h11 is not None:
            return self._h11.next_request()
        buf = self._buf
        if not buf:
            return None if self._eof else NEED_DATA
        if buf[0] < 0x21 or self._eof:
            return self._to_h11()  # h11 refuses a blank line first at once
        # From where the last search stopped (less the three bytes of a blank
        # line it may have cut): a head that comes a byte at a time costs its
        # length once, not once a byte.
        blank = buf.find(b"\r\n\r\n", max(0, self._scan - 3))
        if blank >= 0 and plain_lines(buf[: blank + 2]):
            end = blank + 4
        else:  # HEAD_SCAN says what came first
            found = HEAD_SCAN.search(buf, self._scan)
            if found is None:
                if len(buf) > self._max_head:
                    return self._to_h11()
                self._scan = max(0, len(buf) - 2)
                return NEED_DATA
            if found.group() != b"\n\r\n" or buf[found.start() - 1] != 13:
                return self._to_h11()  # obs-fold, a control character, a bare LF
            end = found.end()
        head = self._parse(buf, end)
        if head is None:
            return self._to_h11()
        self._buf = buf[end:]
        self._head_size = end
        return head

    def next_body(self) -> bytes | Trailers | NeedData:
        if self._h11 is not None:
            return self._h11.next_body()
        left = self._left
        if not left:
            return _END
        buf = self._buf
        if not buf:
            if self._eof:
                raise ProtocolError(400, "peer closed connection without sending complete body")
            return NEED_DATA
        if len(buf) <= left:
            self._buf = b""
            self._left = left - len(buf)
            return buf
        self._buf = buf[left:]
        self._left = 0
        return buf[:left]

    # -- inside -------------------------------------------------------------------

    def _parse(self, buf: bytes, end: int) -> Head | None:
        """The head `buf[:end]` by llhttp, or None if h11 must judge it."""
        self._begin()
        llhttp = self._llhttp
        if llhttp is None:
            llhttp = self._llhttp = httptools.HttpRequestParser(self)
        try:
            llhttp.feed_data(buf[:end] if len(buf) != end else buf)
        except httptools.HttpParserUpgrade:
            self._complete = False  # llhttp is left after an upgrade: a new one next time
        except httptools.HttpParserError:
            self._llhttp = None
            return None
        if not self._complete:
            self._llhttp = None  # it waits for a body that we frame ourselves
        if self._odd:
            return None
        method = llhttp.get_method()
        url = self._url
        line = buf.find(b"\r\n")
        if line != len(method) + len(url) + 10:  # h11 wants single spaces
            return None
        version = buf[line - 3 : line]
        hosts = self._hosts
        if hosts != 1 and (hosts or version == b"1.1"):
            return None  # missing (HTTP/1.1) or repeated Host
        length = self._length
        if length is None:
            size = None
            self._left = 0
        elif len(length) > 20:
            return None  # h11 refuses a Content-Length of more than 20 digits
        else:
            size = self._left = int(length)
        return Head(method, url, version, self._headers, (size, self._tokens, self._expect))

    def _begin(self) -> None:
        """Forget the last head's fields: the callbacks fill them anew."""
        self._url = b""
        self._headers = []
        self._hosts = 0
        self._length = None
        self._tokens = b""
        self._expect = False
        self._odd = False
        self._complete = False

    def _to_h11(self) -> RequestHead | NeedData | None:
        """From here to the end of this cycle, h11 reads, from the request's
        first byte."""
        self._llhttp = None
        judge = H11Parser(self._max_head, self._max_body, self._buf, self._eof)
        self._buf = b""
        self._h11 = judge
        return judge.next_request()
