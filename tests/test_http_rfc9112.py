"""HTTP/1.1 message syntax and connection management (RFC 9112), over real sockets."""

from __future__ import annotations

import logging
import re
import time
from email.utils import parsedate_to_datetime

import pytest
import trio

import actors
import httpserver
from tests.http_helpers import exchange, fetch, http_server, open_stream, raw


async def echo_path(req: httpserver.Req) -> None:
    body = await req.body()
    await req.ok(f"{req.method} {req.uri} {len(body)}")


async def test_rfc9112_9_3_http11_connections_persist_by_default() -> None:
    async with actors.node(), http_server(loop=echo_path) as port:
        stream = await open_stream(port)
        async with stream:
            first, client = await exchange(stream, path="/one")
            second, _ = await exchange(stream, path="/two", client=client)
        assert (first.text, second.text) == ("GET /one 0", "GET /two 0")
        assert first.header("connection") is None


async def test_rfc9112_9_6_connection_close_is_honoured() -> None:
    async with actors.node(), http_server(loop=echo_path) as port:
        data = await raw(port, b"GET /a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert data.startswith(b"HTTP/1.1 200 OK\r\n")
        assert b"\r\nConnection: close\r\n" in data
        assert data.endswith(b"GET /a 0")  # and the server closed: raw() returned


async def test_rfc9112_9_3_http10_closes_unless_keep_alive_is_asked() -> None:
    async with actors.node(), http_server(loop=echo_path) as port:
        plain = await raw(port, b"GET /x HTTP/1.0\r\n\r\n")
        assert b"Connection: close" in plain
        two = await raw(
            port,
            b"GET /1 HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /2 HTTP/1.0\r\n\r\n",
        )
        responses = two.split(b"HTTP/1.1 200 OK")[1:]
        assert len(responses) == 2
        assert b"Connection: keep-alive" in responses[0]
        assert responses[0].endswith(b"GET /1 0")
        assert b"Connection: close" in responses[1]


async def test_rfc9112_9_3_2_pipelined_requests_are_answered_in_order() -> None:
    async def slow_first(req: httpserver.Req) -> None:
        if req.path == "/slow":
            await trio.sleep(0.05)  # answering late must not reorder responses
        await req.ok(req.path)

    async with actors.node(), http_server(loop=slow_first) as port:
        requests = b"".join(
            b"GET %b HTTP/1.1\r\nHost: x\r\n%b\r\n"
            % (p, b"Connection: close\r\n" if p == b"/4" else b"")
            for p in (b"/slow", b"/2", b"/3", b"/4")
        )
        data = await raw(port, requests)
        bodies = re.findall(rb"\r\n\r\n(/slow|/\d)", data)
        assert bodies == [b"/slow", b"/2", b"/3", b"/4"]


async def test_rfc9110_9_3_2_head_has_the_headers_of_get_and_no_body() -> None:
    async def hello(req: httpserver.Req) -> None:
        await req.ok("Hello World.")

    async with actors.node(), http_server(loop=hello) as port:
        data = await raw(port, b"HEAD / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        head, _, body = data.partition(b"\r\n\r\n")
        assert b"Content-Length: 12" in head
        assert body == b""


async def test_rfc9110_10_1_1_expect_100_continue_is_answered_before_the_body() -> None:
    async with actors.node(), http_server(loop=echo_path) as port:
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        async with stream:
            await stream.send_all(
                b"POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"
            )
            interim = await stream.receive_some(100)
            assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
            await stream.send_all(b"hello")
            response = await stream.receive_some(1000)
            assert response.startswith(b"HTTP/1.1 200 OK")
            assert response.endswith(b"POST /up 5")


async def test_rfc9112_7_1_a_chunked_request_body_is_read() -> None:
    async with actors.node(), http_server(loop=echo_path) as port:
        data = await raw(
            port,
            b"POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
            b"Connection: close\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
        )
        assert data.endswith(b"POST /c 11")


async def test_rfc9110_6_6_1_every_response_has_a_date_and_the_server() -> None:
    async with actors.node(), http_server(loop=echo_path) as port:
        response = await fetch(port)
        date = response.header("date")
        assert date is not None
        assert re.fullmatch(r"\w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT", date)
        assert response.header("server") == "trio-misultin/0.1"


async def test_rfc9110_6_6_1_the_date_follows_the_clock_on_a_keep_alive_connection() -> None:
    # A server may join a common head once and keep it: never past its second.
    async with actors.node(), http_server(loop=echo_path) as port:
        stream = await open_stream(port)
        async with stream:
            with trio.fail_after(5):
                first, client = await exchange(stream, path="/same")
                seen = int(time.time())
                await trio.sleep(seen + 1.02 - time.time())  # into the clock's next second
                second, _ = await exchange(stream, path="/same", client=client)
        dates = [parsedate_to_datetime(r.header("date") or "").timestamp() for r in (first, second)]
        assert dates[0] <= seen < dates[1] <= time.time()


async def test_a_plain_answer_has_the_head_of_one_with_headers_given() -> None:
    # ok(body) and ok(body, {}) take different ways to their head; one head results.
    async def answer(req: httpserver.Req) -> None:
        await req.ok("same", None if req.path == "/none" else {})

    async with actors.node(), http_server(loop=answer, compress=True) as port:
        stream = await open_stream(port)
        async with stream:
            with trio.fail_after(5):
                plain, client = await exchange(stream, path="/none")
                given, _ = await exchange(stream, path="/given", client=client)

    def undated(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
        return [(name, value) for name, value in headers if name != "date"]

    assert undated(plain.headers) == undated(given.headers)
    assert ("vary", "Accept-Encoding") in plain.headers


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"GARBAGE\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\n\r\n", 400),  # no Host (RFC 9112 3.2)
        (b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: nope\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n", 400),
        (b"GET /" + b"a" * 3000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),
        (b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 40000 + b"\r\n\r\n", 431),
    ],
    ids=["garbage", "no-host", "bad-length", "bad-header", "uri-too-long", "headers-too-big"],
)
async def test_malformed_requests_get_their_4xx_and_a_close(
    request_bytes: bytes, status: int
) -> None:
    async with actors.node(), http_server(loop=echo_path) as port:
        data = await raw(port, request_bytes)
        assert data.startswith(b"HTTP/1.1 %d " % status)
        assert b"Connection: close" in data
        assert (await fetch(port, "/still")).text == "GET /still 0"  # others are served


async def test_a_crash_in_loop_answers_500_logs_and_closes_only_that_connection(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.ERROR)
    release = trio.Event()

    async def handler(req: httpserver.Req) -> None:
        if req.path == "/crash":
            raise ZeroDivisionError("handler bug")
        if req.path == "/slow":
            await release.wait()
        await req.ok(req.path)

    async with actors.node(), http_server(loop=handler) as port:
        slow_stream = await open_stream(port)
        async with slow_stream, trio.open_nursery() as nursery:
            slow: list[str] = []

            async def slow_request() -> None:
                response, _ = await exchange(slow_stream, path="/slow")
                slow.append(response.text)

            nursery.start_soon(slow_request)
            crashed = await raw(port, b"GET /crash HTTP/1.1\r\nHost: x\r\n\r\n")
            assert crashed.startswith(b"HTTP/1.1 500 Internal Server Error")
            assert b"Connection: close" in crashed
            release.set()
        assert slow == ["/slow"]
        assert (await fetch(port, "/after")).text == "/after"
    # One report, naming the request (not the connection process's function).
    reports = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(reports) == 1, [r.getMessage() for r in reports]
    assert reports[0].name == "httpserver"
    assert reports[0].getMessage().startswith("<Req GET /crash HTTP/1.1> from 127.0.0.1: loop ")
    assert "raised ZeroDivisionError('handler bug'); answering 500" in reports[0].getMessage()
    assert reports[0].exc_info is not None  # with its traceback


async def test_a_handler_that_does_not_answer_gets_500() -> None:
    async def silent(req: httpserver.Req) -> None:
        return None

    async with actors.node(), http_server(loop=silent) as port:
        assert (await fetch(port)).status == 500


async def test_http_error_raised_by_a_handler_keeps_the_connection() -> None:
    async def missing(req: httpserver.Req) -> None:
        if req.path == "/nope":
            raise httpserver.HttpError(404)
        await req.ok("here")

    async with actors.node(), http_server(loop=missing) as port:
        stream = await open_stream(port)
        async with stream:
            first, client = await exchange(stream, path="/nope")
            second, _ = await exchange(stream, path="/yes", client=client)
        assert first.status == 404
        assert b"404 Not Found" in first.body
        assert second.text == "here"


async def test_answering_twice_is_an_error_that_says_so() -> None:
    errors: list[BaseException] = []

    async def twice(req: httpserver.Req) -> None:
        await req.ok("one")
        try:
            await req.ok("two")
        except httpserver.ResponseError as exc:
            errors.append(exc)

    async with actors.node(), http_server(loop=twice) as port:
        assert (await fetch(port)).text == "one"
    assert len(errors) == 1
    assert "already sent" in str(errors[0])


@pytest.mark.parametrize("name", ["X-Evil\n", "X-Evil\r\n", "X-Evil\nSet-Cookie"])
async def test_a_response_header_name_with_a_line_break_is_refused(name: str) -> None:
    refused: list[str] = []

    async def injects(req: httpserver.Req) -> None:
        try:
            await req.ok("x", {name: "1"})
        except ValueError as exc:
            refused.append(str(exc))
            await req.ok("refused")

    async with actors.node(), http_server(loop=injects) as port:
        response = await fetch(port)
    assert response.text == "refused"
    assert refused
    assert "must be a token" in refused[0]


async def test_response_header_injection_is_refused() -> None:
    async def injects(req: httpserver.Req) -> None:
        try:
            await req.ok("x", {"X-Evil": "a\r\nSet-Cookie: stolen=1"})
        except ValueError:
            await req.ok("refused")

    async with actors.node(), http_server(loop=injects) as port:
        response = await fetch(port)
        assert response.text == "refused"
        assert response.header("set-cookie") is None
