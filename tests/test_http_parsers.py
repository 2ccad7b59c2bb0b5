"""The `http` option: h11 and httptools (llhttp) give the same answers.

Every HTTP test runs on each parser (see conftest); here the two are also
set side by side on the same bytes, a corpus of odd heads and a seeded
fuzzer over request-line and header fragments, and each reply (status,
headers but Date, body, and what the handler saw) must be byte for byte
the same.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

import actors
import httpserver
from httpserver import _options, _parsing
from httpserver._parsing import have_httptools
from tests.http_helpers import fetch, http_server, raw

needs_httptools = pytest.mark.skipif(not have_httptools(), reason="httptools is not installed")


async def echo(req: httpserver.Req) -> None:
    """What the handler saw, as the body."""
    body = await req.body()
    seen = (req.method, req.uri, req.version, req.headers.raw, body, req.keep_alive)
    await req.ok(repr(seen))


async def test_the_server_runs_the_parser_it_was_given(http_parser: str) -> None:
    async with actors.node():
        pid = httpserver.start(ip="127.0.0.1", port=0, loop=echo)
        try:
            assert httpserver.info(pid)["http"] == http_parser
            assert (await fetch(httpserver.port(pid), "/x")).status == 200
        finally:
            await httpserver.stop(pid)


async def test_auto_takes_httptools_when_installed() -> None:
    async with actors.node():
        pid = httpserver.start(ip="127.0.0.1", port=0, loop=echo, http="auto")
        try:
            expected = "httptools" if have_httptools() else "h11"
            assert httpserver.info(pid)["http"] == expected
        finally:
            await httpserver.stop(pid)


def test_a_bad_http_option_is_refused_at_start() -> None:
    with pytest.raises(ValueError, match="http='spdy'"):
        httpserver.Options.of({"loop": echo, "http": "spdy"})


async def test_without_httptools_auto_is_h11_and_httptools_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_parsing, "have_httptools", lambda: False)
    monkeypatch.setattr(_options, "have_httptools", lambda: False)
    with pytest.raises(ValueError, match="speedups extra"):
        httpserver.Options.of({"loop": echo, "http": "httptools"})
    async with actors.node():
        pid = httpserver.start(ip="127.0.0.1", port=0, loop=echo, http="auto")
        try:
            assert httpserver.info(pid)["http"] == "h11"
            assert (await fetch(httpserver.port(pid), "/x")).status == 200
        finally:
            await httpserver.stop(pid)


@asynccontextmanager
async def both() -> AsyncIterator[tuple[int, int]]:
    options = {"loop": echo, "recv_timeout": 2.0, "post_max_size": 64}
    async with (
        actors.node(),
        http_server(http="h11", **options) as h11_port,
        http_server(http="httptools", **options) as fast_port,
    ):
        yield h11_port, fast_port


async def reply(port: int, data: bytes) -> bytes:
    """Send `data`, end our side, and read until the server closes; the
    Date headers are dropped (the two servers may answer a second apart)."""
    received = await raw(port, data, eof=True)
    lines = received.split(b"\r\n")
    return b"\r\n".join(line for line in lines if not line.startswith(b"Date: "))


ODD_HEADS = [
    b"GET / HTTP/1.1\r\nHost: a  \r\nX:  b \t\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: a\r\nX: b\r\n c\r\n\r\n",
    b"GET /\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n",
    b"FOO / HTTP/1.1\r\nHost: a\r\n\r\n",
    b"get / HTTP/1.1\r\nHost: a\r\n\r\n",
    b"GET / HTTP/1.2\r\nHost: a\r\n\r\n",
    b"GET / HTTP/2.0\r\n\r\n",
    b"\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc",
    b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 3, 3\r\n\r\nabc",
    b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 000000000000000000003\r\n\r\nabc",
    b"GET / HTTP/1.1\r\nHost: a\r\nX: \x80\xff\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: a\r\nX: a\x01b\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n",
    b"GET  / HTTP/1.1\r\nHost: a\r\n\r\n",
    b"GET / HTTP/1.1\nHost: a\n\n",
    b"GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n"
    b"3\r\nabc\r\n0\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"3\r\nabc\r\n0\r\nT: 1\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: a\r\nX : b\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: a\r\nX:\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
    b"GET / HTTP/1.1\r\n\r\n",
    b"GET / HTTP/1.0\r\n\r\n",
    b"GET http://x/y?z HTTP/1.1\r\nHost: a\r\n\r\n",
    b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",
    b"CONNECT a:443 HTTP/1.1\r\nHost: a\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\nUpgrade: h2c\r\n\r\n"
    b"GET /2 HTTP/1.1\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: b\r\n\r\nGET /3 HTTP/1.1\r\n",
    b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabcGET /2 HTTP/1.1\r\nHost: b\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 9\r\n\r\nabc",
    b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 65\r\n\r\n" + b"x" * 65,
    b"POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\nx",
    b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\nGET /2 HTTP/1.1\r\nHost: b\r\n\r\n",
    b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /2 HTTP/1.0\r\n\r\n",
    # What llhttp's side reads on the way for Req (framing, keep-alive, 100-continue):
    b"GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive\r\nConnection: Close\r\n\r\n"
    b"GET /2 HTTP/1.1\r\nHost: b\r\n\r\n",
    b"GET / HTTP/1.0\r\nConnection: TE, Keep-Alive\r\n\r\nGET /2 HTTP/1.0\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\nContent-Length: 1\r\n\r\nx",
    b"POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nExpect: x\r\n"
    b"Content-Length: 1\r\n\r\nx",
    b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\nGET /2 HTTP/1.1\r\nHost: b\r\n\r\n",
    b"GET /" + b"a" * 2100 + b" HTTP/1.1\r\nHost: a\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: a\r\nX: " + b"b" * 20000 + b"\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: a\r\nX: " + b"b" * 20000,
    b"GET / HTT",
    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
]


@needs_httptools
async def test_the_parsers_answer_odd_heads_alike() -> None:
    async with both() as (h11_port, fast_port):
        for data in ODD_HEADS:
            assert await reply(fast_port, data) == await reply(h11_port, data), data


_LINES = [
    b"GET / HTTP/1.1",
    b"POST /p?q=1 HTTP/1.1",
    b"GET / HTTP/1.0",
    b"PUT  / HTTP/1.1",
    b"GET /a HTTP/1.1 ",
    b"DELETE http://h/x HTTP/1.1",
    b"get / HTTP/1.1",
    b"GET * HTTP/1.1",
]
_NAMES = [
    b"Host",
    b"host",
    b"X-A",
    b"X A",
    b"",
    b"Content-Length",
    b"Transfer-Encoding",
    b"Connection",
    b"Expect",
    b"Upgrade",
    b"X\x7f",
]
_VALUES = [
    b"a",
    b" a ",
    b"",
    b"\t",
    b"3",
    b"03",
    b"3, 3",
    b"-1",
    b"chunked",
    b"Chunked",
    b"gzip, chunked",
    b"upgrade",
    b"close",
    b"keep-alive",
    b"100-continue",
    b"\x80",
    b"a\x01b",
    b"a\x00b",
    b"a b",
    b"a\tb",
    b"4 ",
]
_ENDS = [b"\r\n", b"\r\n", b"\r\n", b"\n", b"\r", b"\r\n "]
_BODIES = [
    b"",
    b"abc",
    b"3\r\nabc\r\n0\r\n\r\n",
    b"0\r\n\r\n",
    b"3\r\nabc\r\n0\r\nT: x\r\n\r\n",
    b"zz\r\n",
    b"GET /2 HTTP/1.1\r\nHost: b\r\n\r\n",
]


def _fuzzed(rng: random.Random) -> bytes:
    end = rng.choice(_ENDS)
    parts = [rng.choice(_LINES), end]
    for _ in range(rng.randrange(4)):
        parts += [rng.choice(_NAMES), b":", rng.choice(_VALUES), rng.choice(_ENDS)]
    parts += [rng.choice(_ENDS), rng.choice(_BODIES)]
    return b"".join(parts)


@needs_httptools
async def test_the_parsers_answer_fuzzed_heads_alike() -> None:
    rng = random.Random(12)
    async with both() as (h11_port, fast_port):
        for _ in range(300):
            data = _fuzzed(rng)
            assert await reply(fast_port, data) == await reply(h11_port, data), data


@needs_httptools
def test_llhttp_fast_head_check_agrees_with_head_scan() -> None:
    """Wherever the few passes of `plain_lines` accept a head, HEAD_SCAN's
    first match is the same blank line (preceded by its CR); where they
    refuse, the parser asks HEAD_SCAN itself. Seeded fragments, CR, LF,
    SP, HTAB and control characters among them."""
    from httpserver._framing import HEAD_SCAN
    from httpserver._llhttp import plain_lines

    pieces = [b"a", b":", b" ", b"\t", b"\r", b"\n", b"\r\n", b"\r\n", b"\x01", b"\x7f", b"\xff"]
    pieces += [b"\x0b", b"\x0c", b"\x1f", b"\n\n", b"\r\n\r\n", b"Host: x"]
    rng = random.Random(6455)
    accepted = 0
    for _ in range(50_000):
        middle = b"".join(rng.choice(pieces) for _ in range(rng.randint(0, 8)))
        buf = b"GET / HTTP/1.1\r\n" + middle + rng.choice([b"\r\n\r\n", b"\r\n", b""]) + b"zz"
        blank = buf.find(b"\r\n\r\n")
        if blank < 0 or not plain_lines(buf[: blank + 2]):
            continue
        accepted += 1
        found = HEAD_SCAN.search(buf)
        assert found is not None, buf
        seen = (found.group(), found.end(), buf[found.start() - 1])
        assert seen == (b"\n\r\n", blank + 4, 13), buf
    assert accepted > 1_000


@needs_httptools
def test_llhttp_finds_a_head_sent_a_byte_at_a_time_as_when_sent_whole() -> None:
    """The search for a head's end goes on from where it stopped: a head
    that comes a byte at a time is found at the same blank line, and one
    with obs-fold or a control character is still handed to h11 (after
    which the connection's check_head refuses it)."""
    from httpserver._errors import ProtocolError
    from httpserver._llhttp import FastParser
    from httpserver._parsing import NEED_DATA, NeedData

    def parse(data: bytes, step: int) -> object:
        parser = FastParser(16_384, 1_000_000)
        for start in range(0, len(data), step):
            parser.receive_data(data[start : start + step])
            try:
                head = parser.next_request()
            except ProtocolError as exc:
                return ("refused", exc.status)
            if head is not None and not isinstance(head, NeedData):
                handed = parser.head_bytes() is not None  # to h11, and check_head
                return (head.method, head.target, list(head.headers), handed)
        return NEED_DATA

    heads = [
        b"GET /a HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n\r\nNEXT",
        b"POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi",
        b"GET / HTTP/1.1\r\nHost: x\r\nX-Fold: a\r\n b\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nX-Bad: a\x01b\r\n\r\n",
    ]
    for data in heads:
        whole = parse(data, len(data))
        assert whole is not NEED_DATA, data
        for step in (1, 2, 3, 5):
            assert parse(data, step) == whole, (data, step)
    results = [parse(data, 1) for data in heads]
    assert results[0] == (b"GET", b"/a", [(b"host", b"x"), (b"x-a", b"1")], False)
    assert [result[-1] for result in results] == [False, False, True, True]  # type: ignore[index]
