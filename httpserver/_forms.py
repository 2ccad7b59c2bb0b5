"""Request bodies as forms: urlencoded pairs, and multipart parts, streamed.

The multipart parser reads the body piece by piece (`Req.body_recv`), so a
large upload never sits whole in memory: each part goes to a spooled file
that moves to disk past `SPOOL_SIZE` bytes. That holds with auto_recv_body
too: the server then spooled the body to a file, which is read back in
pieces. The parser works on at most `_FEED` bytes at a time, so each step
copies little, and a part's headers are limited however the bytes came.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any, Final
from urllib.parse import parse_qsl

from ._errors import HttpError

if TYPE_CHECKING:
    from ._req import Req

__all__ = ["Part", "parse_content_type", "parse_post"]

SPOOL_SIZE: Final = 1024 * 1024  # a part larger than this goes to disk
_MAX_PART_HEAD: Final = 16 * 1024
_MAX_PARTS: Final = 1000
_FEED: Final = 64 * 1024


@dataclass
class Part:
    """One part of a multipart/form-data body."""

    name: str
    filename: str | None
    content_type: str | None
    headers: list[tuple[str, str]]
    file: IO[bytes] = field(repr=False)
    size: int = 0

    def read(self) -> bytes:
        """The whole part (for a large file, prefer `file`)."""
        self.file.seek(0)
        return self.file.read()

    @property
    def text(self) -> str:
        """The part decoded as UTF-8 (for ordinary form fields)."""
        return self.read().decode("utf-8", "replace")


def parse_content_type(value: str | None) -> tuple[str, dict[str, str]]:
    """`type/subtype; a=b; c="d"` -> ("type/subtype", {"a": "b", "c": "d"})."""
    if not value:
        return "", {}
    mime, _, rest = value.partition(";")
    return mime.strip().lower(), _parse_params(rest)


def _parse_params(text: str) -> dict[str, str]:
    params: dict[str, str] = {}
    i, n = 0, len(text)
    while i < n:
        while i < n and text[i] in " \t;":
            i += 1
        start = i
        while i < n and text[i] not in "=;":
            i += 1
        key = text[start:i].strip().lower()
        value = ""
        if i < n and text[i] == "=":
            i += 1
            while i < n and text[i] in " \t":
                i += 1
            if i < n and text[i] == '"':
                i += 1
                chars = []
                while i < n and text[i] != '"':
                    if text[i] == "\\" and i + 1 < n:
                        i += 1
                    chars.append(text[i])
                    i += 1
                i += 1
                value = "".join(chars)
            else:
                start = i
                while i < n and text[i] != ";":
                    i += 1
                value = text[start:i].strip()
        if key:
            params[key] = value
    return params


async def parse_post(req: Req, encoding: str) -> Any:
    mime, params = parse_content_type(req.headers.get("content-type"))
    if mime == "application/x-www-form-urlencoded":
        body = await req.body()
        # Browsers send raw (not percent-encoded) bytes in the page's charset:
        # decode them with `encoding` too, as the %XX escapes are.
        text = body.decode(encoding, "replace")
        return parse_qsl(text, keep_blank_values=True, encoding=encoding, errors="replace")
    if mime == "multipart/form-data":
        boundary = params.get("boundary")
        if not boundary or len(boundary) > 200:
            raise HttpError(400, b"<h1>400 Bad Request</h1>\r\nmultipart without a boundary")
        return await parse_multipart(req, boundary.encode("latin-1"), encoding)
    if mime == "application/octet-stream":
        return await req.body()
    return []


async def parse_multipart(req: Req, boundary: bytes, encoding: str) -> list[Part]:
    """Stream the body into Parts. 400 on a malformed body."""
    parser = MultipartParser(boundary, encoding)
    while True:
        data = await req.body_recv()
        if not data:
            break
        parser.feed(data)
    return parser.finish()


class MultipartParser:
    """Incremental multipart/form-data: feed() bytes, finish() for the parts."""

    def __init__(self, boundary: bytes, encoding: str = "utf-8") -> None:
        self._first = b"--" + boundary
        self._delimiter = b"\r\n--" + boundary
        self._encoding = encoding
        self._buffer = b""
        self._state = "preamble"  # preamble, after_delimiter, head, data, end
        self._parts: list[Part] = []
        self._current: Part | None = None

    def feed(self, data: bytes) -> None:
        for start in range(0, len(data), _FEED):
            self._buffer += data[start : start + _FEED]
            while self._step():
                pass

    def finish(self) -> list[Part]:
        if self._state != "end":
            self._close_all()
            raise HttpError(400, b"<h1>400 Bad Request</h1>\r\nmultipart body ends too soon")
        for part in self._parts:
            part.file.seek(0)
        return self._parts

    def _bad(self, why: str) -> HttpError:
        self._close_all()
        return HttpError(400, f"<h1>400 Bad Request</h1>\r\n{why}".encode())

    def _close_all(self) -> None:
        for part in self._parts:
            part.file.close()

    def _step(self) -> bool:
        buf = self._buffer
        state = self._state
        if state == "preamble":
            if buf.startswith(self._first):
                self._buffer = buf[len(self._first) :]
                self._state = "after_delimiter"
                return True
            at = buf.find(self._delimiter)
            if at < 0:
                keep = len(self._delimiter)
                self._buffer = buf[-keep:] if len(buf) > keep else buf
                return False
            self._buffer = buf[at + len(self._delimiter) :]
            self._state = "after_delimiter"
            return True
        if state == "after_delimiter":
            if len(buf) < 2:
                return False
            if buf.startswith(b"--"):
                self._state = "end"
                self._buffer = b""
                return False
            if not buf.startswith(b"\r\n"):
                raise self._bad("no CRLF after a multipart delimiter")
            self._buffer = buf[2:]
            self._state = "head"
            return True
        if state == "head":
            end = buf.find(b"\r\n\r\n", 0, _MAX_PART_HEAD + 4)
            if end < 0:
                if len(buf) > _MAX_PART_HEAD:
                    raise self._bad("multipart part headers too long")
                return False
            self._start_part(buf[:end])
            self._buffer = buf[end + 4 :]
            self._state = "data"
            return True
        if state == "data":
            part = self._current
            assert part is not None
            at = buf.find(self._delimiter)
            if at < 0:
                keep = len(self._delimiter) - 1
                if len(buf) > keep:
                    self._write(part, buf[:-keep])
                    self._buffer = buf[-keep:]
                return False
            self._write(part, buf[:at])
            self._buffer = buf[at + len(self._delimiter) :]
            self._state = "after_delimiter"
            return True
        return False  # end: the epilogue is ignored

    def _write(self, part: Part, data: bytes) -> None:
        if data:
            part.file.write(data)
            part.size += len(data)

    def _start_part(self, block: bytes) -> None:
        if len(self._parts) >= _MAX_PARTS:
            raise self._bad("too many multipart parts")
        headers = []
        for line in block.split(b"\r\n"):
            name, sep, value = line.partition(b":")
            if not sep:
                raise self._bad("a multipart header line without ':'")
            headers.append(
                (
                    name.strip().decode("latin-1").lower(),
                    value.strip().decode(self._encoding, "replace"),
                )
            )
        found = dict(headers)
        kind, params = parse_content_type(found.get("content-disposition"))
        if kind != "form-data" or "name" not in params:
            raise self._bad("a multipart part without Content-Disposition: form-data; name=...")
        part = Part(
            name=params["name"],
            filename=params.get("filename"),
            content_type=found.get("content-type"),
            headers=headers,
            file=tempfile.SpooledTemporaryFile(max_size=SPOOL_SIZE),  # noqa: SIM115 - the Part owns it
        )
        self._parts.append(part)
        self._current = part
