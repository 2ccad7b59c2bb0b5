"""Every limit of the server, and options checked at start."""

from __future__ import annotations

import pytest
import trio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import actors
import httpserver
from httpserver._errors import ProtocolError
from httpserver._parsing import NEED_DATA, Parser, new_parser
from tests.http_helpers import exchange, fetch, http_server, open_stream, raw


async def echo_size(req: httpserver.Req) -> None:
    await req.ok(str(len(await req.body())))


async def test_max_connections_answers_503_past_the_limit_and_closes() -> None:
    async with actors.node(), http_server(loop=echo_size, max_connections=3) as port:
        streams = [await open_stream(port) for _ in range(3)]
        clients = []
        for stream in streams:  # each answered once: all three are really open
            response, client = await exchange(stream)
            assert response.status == 200
            clients.append(client)
        refused = await raw(port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert refused.startswith(b"HTTP/1.1 503 Service Unavailable")
        assert refused.endswith(b"please try again in a few minutes.")
        await streams[0].aclose()
        with trio.fail_after(5):
            while True:  # the freed slot is taken again once the close is seen
                if (await fetch(port)).status == 200:
                    break
        for stream in streams[1:]:
            await stream.aclose()


async def test_recv_timeout_answers_408_to_a_slow_head() -> None:
    async with actors.node(), http_server(loop=echo_size, recv_timeout=0.3) as port:
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        async with stream:
            await stream.send_all(b"GET / HTTP/1.1\r\nHost: x\r\n")  # never finished
            with trio.fail_after(5):
                data = await stream.receive_some(4096)
            assert data.startswith(b"HTTP/1.1 408 Request Timeout")
            assert b"Connection: close" in data


async def test_recv_timeout_closes_an_idle_keep_alive_connection_silently() -> None:
    async with actors.node(), http_server(loop=echo_size, recv_timeout=0.3) as port:
        stream = await open_stream(port)
        async with stream:
            response, _ = await exchange(stream)
            assert response.status == 200
            with trio.fail_after(5):
                assert await stream.receive_some(4096) == b""  # closed, no 408


async def test_recv_timeout_answers_408_to_a_slow_body() -> None:
    async with actors.node(), http_server(loop=echo_size, recv_timeout=0.3) as port:
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        async with stream:
            await stream.send_all(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc")
            with trio.fail_after(5):
                data = await stream.receive_some(4096)
            assert data.startswith(b"HTTP/1.1 408 ")


async def test_post_max_size_413_by_content_length_without_reading_it() -> None:
    async with actors.node(), http_server(loop=echo_size, post_max_size=100) as port:
        data = await raw(port, b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 101\r\n\r\n")
        assert data.startswith(b"HTTP/1.1 413 ")
        ok = await fetch(port, method="POST", body=b"x" * 100)
        assert ok.text == "100"


async def test_post_max_size_413_for_a_chunked_body_that_grows_too_big() -> None:
    async with actors.node(), http_server(loop=echo_size, post_max_size=100) as port:
        chunk = b"40\r\n" + b"y" * 64 + b"\r\n"
        data = await raw(
            port,
            b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk * 3,
        )
        assert data.startswith(b"HTTP/1.1 413 ")
        assert b"Connection: close" in data


async def test_post_max_size_while_the_handler_streams_the_body() -> None:
    seen: list[int] = []

    async def streaming(req: httpserver.Req) -> None:
        total = 0
        while part := await req.body_recv():
            total += len(part)
            seen.append(total)
        await req.ok(str(total))

    async with (
        actors.node(),
        http_server(loop=streaming, post_max_size=1000, auto_recv_body=False) as port,
    ):
        ok = await fetch(port, method="POST", body=b"z" * 1000)
        assert ok.text == "1000"
        data = await raw(
            port,
            b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
            + (b"100\r\n" + b"w" * 256 + b"\r\n") * 5,
        )
        assert data.startswith(b"HTTP/1.1 413 ")


# RFC 9112 7.1: chunk-size is 1*HEXDIG, then chunk extensions, then CRLF.
# Each line is refused as soon as it is bad (the client sends nothing more
# and waits), not at the body deadline (recv_timeout is 30 s here).
_CHUNKED_HEAD = b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
_CHUNK_LINES = [
    pytest.param(b"ffffffffffffffffff\r\n", 413, id="overflowing"),
    pytest.param(b"ffffffffffffffffff", 413, id="overflowing-line-unfinished"),
    pytest.param(b"65\r\n", 413, id="one-chunk-above-post-max-size"),
    pytest.param(b"40\r\n" + b"y" * 64 + b"\r\n25\r\n", 413, id="above-with-the-chunks-before"),
    pytest.param(b"zz", 400, id="not-hex"),
    pytest.param(b"zz\r\n", 400, id="not-hex-line"),
    pytest.param(b"1x", 400, id="hex-then-garbage"),
    pytest.param(b"1;" + b"e" * 5000 + b"\r\n", 400, id="too-long"),
    pytest.param(b"1;" + b"e" * 5000, 400, id="too-long-unfinished"),
    pytest.param(b"1\nz", 400, id="bare-lf"),
]


@pytest.mark.parametrize(("sent", "status"), _CHUNK_LINES)
@pytest.mark.parametrize("streamed", [False, True], ids=["read-by-server", "read-by-handler"])
async def test_rfc9112_7_1_a_chunk_size_line_too_large_or_malformed_is_refused_at_once(
    sent: bytes, status: int, streamed: bool
) -> None:
    async def streaming(req: httpserver.Req) -> None:
        while await req.body_recv():
            pass
        await req.ok("read")

    handler = streaming if streamed else echo_size
    async with (
        actors.node(),
        http_server(loop=handler, post_max_size=100, auto_recv_body=not streamed) as port,
    ):
        stream = await open_stream(port)
        async with stream:
            await stream.send_all(_CHUNKED_HEAD + sent)
            received = b""
            with trio.fail_after(1):
                while data := await stream.receive_some(65536):  # until it closes
                    received += data
        assert received.startswith(b"HTTP/1.1 %d " % status), received
        assert received.count(b"HTTP/1.1 ") == 1, received
        assert b"Connection: close" in received


async def test_rfc9112_7_1_chunks_within_post_max_size_are_read() -> None:
    async with actors.node(), http_server(loop=echo_size, post_max_size=100) as port:
        body = b"40;name=value\r\n" + b"y" * 64 + b"\r\n024 \r\n" + b"z" * 36 + b"\r\n0\r\n\r\n"
        data = await raw(
            port, _CHUNKED_HEAD.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n") + body
        )
        assert data.startswith(b"HTTP/1.1 200 "), data
        assert data.endswith(b"\r\n\r\n100")


def _read_chunked(parser: Parser, pieces: list[bytes], got: list[bytes]) -> None:
    """Feed `pieces` of a chunked body (and what follows it) to `parser`;
    put the data it gives in `got`."""
    ended = False
    for piece in pieces:
        parser.receive_data(piece)
        while not ended and (event := parser.next_body()) is not NEED_DATA:
            if isinstance(event, bytes):
                got.append(event)
            else:
                ended = True
    assert ended, "the body did not end"


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    chunks=st.lists(st.binary(min_size=1, max_size=40), max_size=6),
    extensions=st.lists(
        st.sampled_from([b"", b";a=b", b";x", b" ", b"\t ", b';q="r s" ']), min_size=6
    ),
    zeros=st.integers(0, 3),
    cuts=st.lists(st.integers(1, 64), max_size=30),
)
def test_a_chunked_body_reads_whole_up_to_post_max_size_and_not_a_byte_past_it(
    http_parser: str, chunks: list[bytes], extensions: list[bytes], zeros: int, cuts: list[int]
) -> None:
    """However its bytes are split, a chunked body is read whole when it
    fits post_max_size exactly, and refused (413) one byte below that,
    before more than the limit is handed out."""
    body = b"".join(
        b"0" * zeros + b"%x" % len(data) + ext + b"\r\n" + data + b"\r\n"
        for data, ext in zip(chunks, extensions, strict=False)
    )
    body += b"0\r\n\r\nGET /next HTTP/1.1\r\n"
    pieces, at = [], 0
    for cut in cuts:
        pieces.append(body[at : at + cut])
        at += cut
    pieces.append(body[at:])
    size = sum(map(len, chunks))
    for limit in (size, size - 1):
        parser = new_parser(http_parser, 8192, limit)
        parser.receive_data(_CHUNKED_HEAD)
        assert parser.next_request() is not NEED_DATA
        got: list[bytes] = []
        if limit == size:
            _read_chunked(parser, pieces, got)
            assert b"".join(got) == b"".join(chunks)
            parser.next_cycle()  # what followed the body is the next request's
            assert parser.leftover() == b"GET /next HTTP/1.1\r\n"
        elif limit >= 0:
            with pytest.raises(ProtocolError) as refused:
                _read_chunked(parser, pieces, got)
            assert refused.value.status == 413
            assert sum(map(len, got)) <= limit


async def test_get_url_max_size_414_is_reachable() -> None:
    async with actors.node(), http_server(loop=echo_size, get_url_max_size=100) as port:
        assert (await fetch(port, "/" + "a" * 99)).status == 200
        data = await raw(port, b"GET /" + b"a" * 100 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
        assert data.startswith(b"HTTP/1.1 414 URI Too Long")


async def test_an_unread_body_is_skipped_before_the_next_request() -> None:
    async def ignores_body(req: httpserver.Req) -> None:
        await req.ok(req.path)

    async with actors.node(), http_server(loop=ignores_body, auto_recv_body=False) as port:
        stream = await open_stream(port)
        async with stream:
            first, client = await exchange(stream, "POST", "/1", body=b"q" * 5000)
            second, _ = await exchange(stream, path="/2", client=client)
        assert (first.text, second.text) == ("/1", "/2")


def test_options_are_checked_at_start() -> None:
    async def main() -> None:
        with pytest.raises(TypeError, match="'loop' is required"):
            httpserver.start(port=0)
        with pytest.raises(TypeError, match="unknown server option 'prot'; did you mean 'port'"):
            httpserver.start(loop=echo_size, prot=80)  # type: ignore[call-arg]
        with pytest.raises(ValueError, match="bad server option port=70000"):
            httpserver.start(loop=echo_size, port=70000)
        with pytest.raises(ValueError, match="recv_timeout"):
            httpserver.start(loop=echo_size, recv_timeout=-1)
        with pytest.raises(ValueError, match="ip"):
            httpserver.start(loop=echo_size, ip="not an address")
        with pytest.raises(ValueError, match="static"):
            httpserver.start(loop=echo_size, static="/no/such/directory")
        with pytest.raises(ValueError, match="ssl"):
            httpserver.start(loop=echo_size, ssl={"certfile": "/no/such.pem"})

    actors.run(main)


def test_a_port_in_use_fails_at_start_and_says_which() -> None:
    async def main() -> None:
        first = httpserver.start(ip="127.0.0.1", port=0, loop=echo_size)
        taken = httpserver.port(first)
        with pytest.raises(OSError, match=f"cannot listen on 127.0.0.1 port {taken}"):
            httpserver.start(ip="127.0.0.1", port=taken, loop=echo_size)
        await httpserver.stop(first)

    actors.run(main)
