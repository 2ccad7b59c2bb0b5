"""Deadlines per request, not per read: a client that trickles bytes, or
takes none, is closed within its deadline (RFC 9110 15.5.9: 408)."""

from __future__ import annotations

from pathlib import Path

import trio

import actors
import httpserver
from tests.http_helpers import exchange, http_server, open_stream


async def echo_size(req: httpserver.Req) -> None:
    await req.ok(str(len(await req.body())))


async def trickle(stream: trio.SocketStream, data: bytes, every: float) -> None:
    """Send `data` a byte at a time, `every` seconds apart, until the server closes."""
    try:
        for byte in data:
            await stream.send_all(bytes([byte]))
            await trio.sleep(every)  # the slowness under test, not a wait for a race
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        pass


async def answer_to_trickle(port: int, head: bytes, trickled: bytes, every: float) -> bytes:
    """Send `head`, then trickle; return what the server sends until it closes."""
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    async with stream, trio.open_nursery() as nursery:
        await stream.send_all(head)
        nursery.start_soon(trickle, stream, trickled, every)
        received = b""
        while True:
            try:
                data = await stream.receive_some(4096)
            except trio.BrokenResourceError:
                break
            if not data:
                break
            received += data
        nursery.cancel_scope.cancel()
    return received


async def test_rfc9110_15_5_9_a_trickled_head_gets_408_within_recv_timeout() -> None:
    # One byte every 50 ms never lets a per-read timeout of 0.4 s expire.
    async with actors.node(), http_server(loop=echo_size, recv_timeout=0.4) as port:
        start = trio.current_time()
        with trio.fail_after(3):
            data = await answer_to_trickle(
                port, b"GET / HTTP/1.1\r\n", b"Host: x\r\n" + b"X-Slow: abc\r\n" * 100, 0.05
            )
        assert data.startswith(b"HTTP/1.1 408 Request Timeout\r\n")
        assert b"Connection: close" in data
        assert trio.current_time() - start < 1.5


async def test_rfc9110_15_5_9_a_trickled_second_head_on_keep_alive_gets_408() -> None:
    # The error belongs to the request being read, not to the one answered before it.
    async with actors.node(), http_server(loop=echo_size, recv_timeout=0.4) as port:
        with trio.fail_after(3):
            data = await answer_to_trickle(
                port,
                b"GET /1 HTTP/1.1\r\nHost: x\r\n\r\nGET /2 HTTP/1.1\r\n",
                b"Host: x\r\n" + b"X-Slow: abc\r\n" * 100,
                0.05,
            )
        first, _, second = data.partition(b"\r\n\r\n0")
        assert first.startswith(b"HTTP/1.1 200 OK\r\n")
        assert second.startswith(b"HTTP/1.1 408 Request Timeout\r\n")


async def test_each_idle_wait_has_its_own_head_deadline() -> None:
    # Idle 0.45 s between requests: past the server's check of waiting
    # connections (every recv_timeout / 2), within recv_timeout. Each wait's
    # deadline is its own: the one armed during the first must not survive
    # into the second (it would have fired 0.6 s after the first response),
    # nor cut a head that comes in time.
    async with actors.node(), http_server(loop=echo_size, recv_timeout=0.6) as port:
        stream = await open_stream(port)
        async with stream:
            with trio.fail_after(5):
                response, client = await exchange(stream)
                for _ in range(2):
                    await trio.sleep(0.45)  # the idle client under test
                    response, client = await exchange(stream, client=client)
                    assert response.status == 200
                start = trio.current_time()
                assert await stream.receive_some(4096) == b""  # closed, silently
            assert trio.current_time() - start >= 0.55  # not before its recv_timeout


async def test_rfc9110_15_5_9_a_trickled_body_gets_408_below_body_min_rate() -> None:
    # 20 bytes/s is below body_min_rate=100: the 0.4 s grace runs out.
    async with (
        actors.node(),
        http_server(loop=echo_size, recv_timeout=0.4, body_min_rate=100) as port,
    ):
        start = trio.current_time()
        with trio.fail_after(4):
            data = await answer_to_trickle(
                port,
                b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n",
                b"b" * 1000,
                0.05,
            )
        assert data.startswith(b"HTTP/1.1 408 Request Timeout\r\n")
        assert trio.current_time() - start < 2.5


async def test_rfc9110_15_5_9_a_trickled_chunked_body_gets_408() -> None:
    async with (
        actors.node(),
        http_server(loop=echo_size, recv_timeout=0.4, body_min_rate=100) as port,
    ):
        with trio.fail_after(4):
            data = await answer_to_trickle(
                port,
                b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n",
                b"1\r\nz\r\n" * 200,
                0.05,
            )
        assert data.startswith(b"HTTP/1.1 408 Request Timeout\r\n")


async def test_a_body_at_the_minimum_rate_is_read_whole() -> None:
    # 1000 bytes/s against body_min_rate=100: slow, but fast enough.
    async with (
        actors.node(),
        http_server(loop=echo_size, recv_timeout=0.3, body_min_rate=100) as port,
    ):
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        async with stream:
            await stream.send_all(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 600\r\n\r\n")
            with trio.fail_after(5):
                for _ in range(6):
                    await stream.send_all(b"p" * 100)
                    await trio.sleep(0.1)  # the client's pace under test
                data = await stream.receive_some(4096)
        assert data.startswith(b"HTTP/1.1 200 OK\r\n")
        assert data.endswith(b"\r\n\r\n600")


async def test_the_handler_reading_its_body_slowly_is_not_the_client_being_slow() -> None:
    # Only the server's waits count against the body's deadline.
    async def slow_reader(req: httpserver.Req) -> None:
        total = 0
        while part := await req.body_recv():
            total += len(part)
            await trio.sleep(0.2)  # the handler's own work, longer than recv_timeout in all
        await req.ok(str(total))

    async with (
        actors.node(),
        http_server(
            loop=slow_reader, recv_timeout=0.3, body_min_rate=100, auto_recv_body=False
        ) as port,
    ):
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        async with stream:
            await stream.send_all(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\n")
            with trio.fail_after(5):
                for byte in b"abcd":
                    await stream.send_all(bytes([byte]))
                    await trio.sleep(0.1)
                data = await stream.receive_some(4096)
        assert data.endswith(b"\r\n\r\n4")


async def test_send_timeout_closes_a_client_that_does_not_read() -> None:
    big = b"r" * (16 * 1024 * 1024)
    returned = trio.Event()
    messages: list[object] = []

    async def sends_big(req: httpserver.Req) -> None:
        await req.ok(big)  # a client that never reads must not hold this forever
        returned.set()
        messages.append(await actors.receive(timeout=1))

    async with (
        actors.node(),
        http_server(loop=sends_big, send_timeout=0.3, autoexit=False) as port,
    ):
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        async with stream:
            await stream.send_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            with trio.fail_after(5):
                await returned.wait()
                received = 0
                while True:  # what the buffers held, then the close
                    try:
                        data = await stream.receive_some(1024 * 1024)
                    except trio.BrokenResourceError:
                        break
                    if not data:
                        break
                    received += len(data)
        assert received < len(big)
        assert messages == ["closed"]


async def test_send_timeout_closes_a_client_that_reads_a_trickle() -> None:
    big = b"s" * (16 * 1024 * 1024)

    async def sends_big(req: httpserver.Req) -> None:
        await req.ok(big)

    async with actors.node(), http_server(loop=sends_big, send_timeout=0.3) as port:
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        async with stream:
            await stream.send_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            received = 0
            with trio.fail_after(8):
                slow_until = trio.current_time() + 1.0  # well past send_timeout
                while True:
                    slow = trio.current_time() < slow_until
                    try:
                        data = await stream.receive_some(16 if slow else 1024 * 1024)
                    except trio.BrokenResourceError:
                        break
                    if not data:
                        break
                    received += len(data)
                    if slow:
                        await trio.sleep(0.05)  # the client's pace under test
        assert received < len(big)


async def test_send_timeout_ends_a_file_response_to_a_client_that_does_not_read(
    tmp_path: Path,
) -> None:
    path = tmp_path / "big.bin"
    path.write_bytes(b"f" * (16 * 1024 * 1024))
    returned = trio.Event()

    async def sends_file(req: httpserver.Req) -> None:
        await req.file(str(path))  # one write per 64 KiB block
        returned.set()

    async with (
        actors.node(),
        http_server(loop=sends_file, send_timeout=0.3, autoexit=False) as port,
    ):
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        async with stream:
            await stream.send_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            with trio.fail_after(5):
                await returned.wait()
