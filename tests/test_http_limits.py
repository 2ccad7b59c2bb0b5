"""Every limit of the server, and options checked at start."""

from __future__ import annotations

import pytest
import trio

import actors
import httpserver
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
            httpserver.start(loop=echo_size, prot=80)
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
