"""Bounded buffers: comet read-ahead, bodies spooled to disk, multipart parts
streamed whatever auto_recv_body is, the PROXY line read without polling,
and the fd limit."""

from __future__ import annotations

import contextlib
import resource
import time
import tracemalloc
from collections.abc import Iterator

import pytest
import trio
from wsproto.events import AcceptConnection

import actors
import httpserver
from httpserver._fdlimit import RESERVE, connection_cap
from tests.http_helpers import fetch, http_server, listening, multipart_body, python_argv
from tests.ws_helpers import handshake

MiB = 1024 * 1024


@pytest.fixture
def traced() -> Iterator[None]:
    tracemalloc.start()
    try:
        yield
    finally:
        tracemalloc.stop()


async def test_comet_read_ahead_past_a_head_closes_the_connection() -> None:
    async def waits(req: httpserver.Req) -> None:
        req.options(comet=True)
        await trio.sleep_forever()  # a long poll; the flood must end it

    async with actors.node(), http_server(loop=waits, get_url_max_size=100) as port:
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        async with stream:
            await stream.send_all(b"GET /poll HTTP/1.1\r\nHost: x\r\n\r\n")
            with trio.fail_after(5):
                closed = False
                try:
                    for _ in range(64):  # 4 MiB at most; the bound is 16 KiB and a bit
                        await stream.send_all(b"j" * 65536)
                except trio.BrokenResourceError:
                    closed = True
                if not closed:  # a reset is a close too: the flood was left unread
                    with contextlib.suppress(trio.BrokenResourceError):
                        assert await stream.receive_some(4096) == b""


async def test_a_request_pipelined_behind_a_comet_handler_is_answered() -> None:
    waiting = trio.Event()
    release = trio.Event()

    async def handler(req: httpserver.Req) -> None:
        if req.path == "/poll":
            req.options(comet=True)
            waiting.set()
            await release.wait()
        await req.ok(req.path)

    async with actors.node(), http_server(loop=handler) as port:
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        async with stream:
            with trio.fail_after(5):
                await stream.send_all(b"GET /poll HTTP/1.1\r\nHost: x\r\n\r\n")
                await waiting.wait()
                await stream.send_all(b"GET /next HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                # Time for the watcher to read /next ahead (it is the path under test;
                # were it read later instead, the test would pass without testing it).
                await trio.sleep(0.2)
                release.set()
                data = b""
                while chunk := await stream.receive_some(4096):
                    data += chunk
        assert data.count(b"HTTP/1.1 200 OK") == 2
        assert data.endswith(b"/next")


async def test_a_large_body_read_before_the_handler_is_spooled_not_held(traced: None) -> None:
    body = bytes(range(256)) * (8 * MiB // 256)
    seen: list[int] = []

    async def handler(req: httpserver.Req) -> None:
        seen.append(tracemalloc.get_traced_memory()[1])  # the peak before body()
        pieces = [await req.body_recv(), await req.body_recv()]
        await req.ok(b"%d %d" % (len(pieces[0]), len(pieces[1])))

    async def reads_whole(req: httpserver.Req) -> None:
        await req.ok(b"%d" % (await req.body() == body))

    async with actors.node(), http_server(loop=handler, post_max_size=16 * MiB) as port:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]  # the body to send is in it
        response = await fetch(port, method="POST", body=body)
        assert response.text == "65536 65536"
        assert seen[0] - base < 2 * MiB
    async with actors.node(), http_server(loop=reads_whole, post_max_size=16 * MiB) as port:
        assert (await fetch(port, method="POST", body=body)).text == "1"


async def test_multipart_parts_stream_to_disk_with_auto_recv_body(traced: None) -> None:
    data = b"\x00\xff" * (4 * MiB)
    body = multipart_body("XyZ", [("note", None, b"hello"), ("file", "big.bin", data)])
    peaks: list[int] = []
    base: list[int] = []

    async def upload(req: httpserver.Req) -> None:
        parts = await req.parse_post()
        peaks.append(tracemalloc.get_traced_memory()[1])
        big = parts[1]
        ok = big.size == len(data) and big.read() == data and parts[0].text == "hello"
        await req.ok(b"%d %d" % (ok, big.file._rolled))

    async with actors.node(), http_server(loop=upload, post_max_size=16 * MiB) as port:
        tracemalloc.reset_peak()
        base.append(tracemalloc.get_traced_memory()[0])  # the body to send is in it
        response = await fetch(
            port,
            method="POST",
            body=body,
            headers=[("Content-Type", "multipart/form-data; boundary=XyZ")],
        )
        assert response.text == "1 1"
    assert peaks[0] - base[0] < 3 * MiB


@pytest.mark.parametrize("auto_recv_body", [True, False])
async def test_multipart_part_headers_are_limited_however_the_body_came(
    auto_recv_body: bool,
) -> None:
    async def upload(req: httpserver.Req) -> None:
        await req.parse_post()
        await req.ok("parsed")

    long_head = b"X-Pad: " + b"p" * 20000
    body = (
        b'--B\r\nContent-Disposition: form-data; name="a"\r\n'
        + long_head
        + b"\r\n\r\nvalue\r\n--B--\r\n"
    )
    async with actors.node(), http_server(loop=upload, auto_recv_body=auto_recv_body) as port:
        response = await fetch(
            port,
            method="POST",
            body=body,
            headers=[("Content-Type", "multipart/form-data; boundary=B")],
        )
        assert response.status == 400
        assert b"headers too long" in response.body


async def test_the_proxy_line_trickled_is_read_whole_and_nothing_past_it() -> None:
    async def peer(req: httpserver.Req) -> None:
        await req.ok(f"{req.socket_peer[0]}:{req.socket_peer[1]} {req.path}")

    async with (
        actors.node(),
        http_server(loop=peer, proxy_protocol=True, trusted_proxies=["127.0.0.1"]) as port,
    ):
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        async with stream:
            line = b"PROXY TCP4 192.0.2.7 198.51.100.1 4242 80\r\n"
            with trio.fail_after(5):
                for at in range(0, len(line), 5):
                    await stream.send_all(line[at : at + 5])
                    await trio.sleep(0.01)  # pieces, each read on its own
                await stream.send_all(b"GET /p HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                data = b""
                while chunk := await stream.receive_some(4096):
                    data += chunk
        assert data.endswith(b"192.0.2.7:4242 /p")


async def test_incomplete_proxy_lines_wait_without_burning_cpu() -> None:
    async with (
        actors.node(),
        http_server(loop=hello, proxy_protocol=True, trusted_proxies=["127.0.0.1"]) as port,
    ):
        streams = []
        for _ in range(100):
            stream = await trio.open_tcp_stream("127.0.0.1", port)
            await stream.send_all(b"PROXY TCP4 1.2.3.4")  # and no more
            streams.append(stream)
        cpu = time.process_time()
        await trio.sleep(1.0)  # the window measured: the server waits on 100 sockets
        used = time.process_time() - cpu
        for stream in streams:
            await stream.aclose()
    assert used < 0.25, f"{used:.2f} s of CPU in 1 s for 100 waiting PROXY lines"


def test_max_connections_is_capped_by_the_fd_limit() -> None:
    assert connection_cap(4096, 1024) == 1024 - RESERVE  # one fd each, at least
    assert connection_cap(100, 1024) == 100
    assert connection_cap(4096, None) == 4096


FD_LIMIT = 200  # room for (200 - RESERVE) / 2 = 68 HTTP connections, 136 WebSockets


def _limit_fds() -> None:  # (in the server's process, before it execs)
    resource.setrlimit(resource.RLIMIT_NOFILE, (FD_LIMIT, FD_LIMIT))


async def test_a_websocket_counts_one_fd_so_the_fd_limit_holds_twice_as_many() -> None:
    """A connection speaking HTTP may need two fds (a file, a body on disk);
    one switched to a WebSocket needs one for good. With a hard fd limit
    of 200, a server holds 120 WebSockets (past the 68 that two fds each
    would allow), then exactly 8 more HTTP connections: 2 x 128 - 120 = 136
    fds, the room the limit leaves; the 9th is answered 503."""
    room = FD_LIMIT - RESERVE
    sockets = 120
    http_fit = (room - sockets) // 2  # 2 * (sockets + h) - sockets <= room
    echo = "examples.websocket_echo"
    argv = python_argv("-m", "httpserver", f"{echo}:no_http", "--ws", f"{echo}:echo")
    streams: list[trio.abc.Stream] = []
    async with listening(argv, preexec_fn=_limit_fds) as runner:
        try:
            with trio.fail_after(60):
                for _ in range(sockets):
                    stream, _, answer = await handshake(runner.port)
                    streams.append(stream)
                    assert isinstance(answer, AcceptConnection), (len(streams), answer)
                statuses: list[int] = []
                while not statuses or statuses[-1] == 404:  # each kept open, keep-alive
                    stream = await trio.open_tcp_stream("127.0.0.1", runner.port)
                    streams.append(stream)
                    await stream.send_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                    head = b""
                    while b"\r\n" not in head:
                        head += await stream.receive_some(1024)
                    statuses.append(int(head.split(b" ", 2)[1]))
                assert statuses == [404] * http_fit + [503], statuses
        finally:
            for stream in streams:
                await stream.aclose()


async def hello(req: httpserver.Req) -> None:
    await req.ok("hi")


def test_the_server_raises_its_soft_fd_limit_to_the_hard_one() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard < 200:
        pytest.skip(f"a hard fd limit of {hard} cannot be tested here")
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard - 100, hard))  # lowering soft is reversible
    found: list[object] = []

    async def main() -> None:
        server = httpserver.start(ip="127.0.0.1", port=0, loop=hello)
        found.append(resource.getrlimit(resource.RLIMIT_NOFILE)[0])
        found.append(httpserver.info(server)["max_connections"])
        await httpserver.stop(server)

    try:
        actors.run(main)
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    assert found == [hard, min(4096, hard - RESERVE)]
