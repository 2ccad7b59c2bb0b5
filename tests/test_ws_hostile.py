"""WebSockets against hostile clients: one owner per socket, failing a
connection (RFC 6455 7.1.7), and a bound on everything a client can make
the server spend: messages waiting at the handler, inflated bytes,
fragments, pongs, UTF-8 bytes, the handshake's inputs."""

from __future__ import annotations

import socket
import struct
import tracemalloc
import zlib
from typing import Any

import pytest
import trio
import trio.testing

import actors
import websocket
from tests.conftest import wait_down
from tests.test_ws_rfc6455 import ws_server
from tests.ws_helpers import Closed, WsClient, client_frame, handshake, open_ws
from tests.ws_helpers import ws_protocol as ws_protocol

pytestmark = pytest.mark.usefixtures("ws_protocol")

TEXT, BINARY, CONTINUATION, PING = 0x1, 0x2, 0x0, 0x9


def recorder(autoexit_notice: bool = True) -> Any:
    """A handler that echoes and tells the process registered as "test"
    everything it gets, including "closed"."""

    async def handler(ws: websocket.Ws) -> None:
        while True:
            msg = await actors.receive()
            actors.send("test", ("got", msg))
            if isinstance(msg, tuple) and msg[0] == "browser":
                ws.send(msg[1])

    return handler


async def got_until_closed() -> list[Any]:
    """What the recorder got, up to and without its "closed"."""
    seen = []
    while (msg := (await actors.receive(("got", actors.ANY), timeout=10))[1]) != "closed":
        seen.append(msg)
    return seen


async def read_close(ws: WsClient) -> tuple[list[Any], Closed]:
    """Messages until the server's close frame, and the close."""
    messages = []
    while not isinstance(msg := await ws.receive(timeout=20), Closed):
        messages.append(msg)
    return messages, msg


# -- one owner for the socket ---------------------------------------------------------


@pytest.mark.parametrize("ending", ["eof", "reset", "close_frame"])
async def test_a_ws_kept_after_its_socket_ended_reaches_no_later_client(ending: str) -> None:
    kept: list[websocket.Ws] = []

    async def keeper(ws: websocket.Ws) -> None:
        kept.append(ws)
        sock = ws._sock
        assert sock is not None
        actors.send("test", ("fd", sock._fd, sock.reader))
        while True:
            match await actors.receive():
                case ("browser", data):
                    ws.send(data)
                case "closed":
                    actors.send("test", ("closed", ws))

    async with actors.node(), ws_server(ws_loop=keeper, ws_autoexit=False) as port:
        actors.register("test")
        stream, _, _ = await handshake(port)
        _, old_fd, reader = await actors.receive(("fd", actors.ANY, actors.ANY), timeout=5)
        if ending == "reset":
            assert isinstance(stream, trio.SocketStream)
            stream.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        if ending == "close_frame":
            await stream.send_all(client_frame(0x8, struct.pack("!H", 1000)))
        await stream.aclose()
        _, old = await actors.receive(("closed", actors.ANY), timeout=5)
        assert not old.is_open
        await wait_down(reader)  # its fd is closed: free for the next client

        later: list[WsClient] = []
        fds = []
        async with trio.open_nursery() as nursery:
            for _ in range(20):  # until the kernel hands a new client the old fd
                new_stream, new_conn, accepted = await handshake(port)
                later.append(WsClient(new_stream, new_conn, accepted))  # type: ignore[arg-type]
                fds.append((await actors.receive(("fd", actors.ANY, actors.ANY), timeout=5))[1])
                if old_fd in fds:
                    break
            assert old_fd in fds, "the fd number was never reused: the test proves nothing"
            old.send("LEAKED-FRAME")
            old.close(4000, "LEAKED-CLOSE")
            assert websocket.broadcast([old], "LEAKED-BROADCAST") == 0
            for client in later:
                await client.send("mine")
                assert await client.receive() == "mine"  # the first thing it reads
                await client.stream.aclose()
            nursery.cancel_scope.cancel()


# -- 7.1.7 failing the connection ---------------------------------------------------------


async def test_rfc6455_7_1_7_a_failed_connection_delivers_nothing_more_and_the_peer_reads_why() -> (
    None
):
    """A 17 MiB message to a server allowing 16 MiB (the default): refused
    at its header; what followed it is not delivered; the client, which
    wrote everything before reading, reads the close code, not a reset."""
    big = client_frame(BINARY, b"x" * (17 * 1024 * 1024))
    async with actors.node(), ws_server(ws_loop=recorder(), ws_autoexit=False) as port:
        actors.register("test")
        async with open_ws(port) as ws:
            with trio.fail_after(30):
                await ws.send_raw(
                    client_frame(TEXT, b"before") + big + client_frame(TEXT, b"after")
                )
                messages, closed = await read_close(ws)
                await ws.wait_eof()
        assert messages == ["before"]
        assert closed.code == 1009
        assert await got_until_closed() == [("browser", "before")]


async def test_rfc6455_5_2_a_frame_declaring_more_than_the_limit_is_refused_at_its_header() -> None:
    async with actors.node(), ws_server() as port, open_ws(port) as ws:
        await ws.send_raw(client_frame(BINARY, b"", length=2**62))  # and not one byte of it
        _, closed = await read_close(ws)
        assert closed.code == 1009


async def test_a_client_that_stops_reading_is_failed_and_its_messages_stop() -> None:
    """1008 on overflow is a failure too: nothing reaches the handler after it."""

    async def flooder(ws: websocket.Ws) -> None:
        while True:
            msg = await actors.receive()
            actors.send("test", ("got", msg))
            if isinstance(msg, tuple):
                for _ in range(64):
                    ws.send(b"z" * 65536)

    async with (
        actors.node(),
        ws_server(ws_loop=flooder, ws_autoexit=False, ws_max_queue=1024 * 1024) as port,
        open_ws(port) as ws,
    ):
        actors.register("test")
        await ws.send("first")
        got = await got_until_closed()
        assert got[0] == ("browser", "first")
        # Whatever the client sends now is read and dropped, never delivered.
        with trio.move_on_after(0.5):  # until the server closes, or a bound
            for i in range(1000):
                await ws.send(f"late {i}")
        with pytest.raises(actors.ReceiveTimeout):
            await actors.receive(("got", actors.ANY), timeout=0.2)


# -- back-pressure ---------------------------------------------------------------------------


@pytest.mark.parametrize(("pending", "bound"), [((8, 1 << 20), 8), ((1000, 16 * 1024), 16)])
async def test_the_reader_stops_while_the_handler_has_ws_max_pending_waiting(
    pending: tuple[int, int], bound: int
) -> None:
    count = 3000

    async def lazy(ws: websocket.Ws) -> None:
        await actors.receive("go")
        peak = received = 0
        while received < count:
            info = actors.process_info(actors.self())
            assert info is not None
            peak = max(peak, info["message_queue_len"])
            await actors.receive(("browser", actors.ANY))
            received += 1
        actors.send("test", ("done", received, peak))

    async with actors.node(), ws_server(ws_loop=lazy, ws_max_pending=pending) as port:
        actors.register("test")
        async with open_ws(port) as ws, trio.open_nursery() as nursery:
            message = client_frame(BINARY, b"k" * 1024)

            async def push() -> None:
                for _ in range(count // 100):
                    await ws.send_raw(message * 100)

            nursery.start_soon(push)
            await trio.testing.wait_all_tasks_blocked(cushion=0.05)
            handler = next(iter(websocket._ws.by_handler()))
            waiting = actors.process_info(handler)
            assert waiting is not None
            assert 0 < waiting["message_queue_len"] <= bound
            actors.send(handler, "go")
            _, received, peak = await actors.receive(("done", actors.ANY, actors.ANY), timeout=30)
        assert received == count
        assert peak <= bound


async def test_rfc7692_an_inflated_message_counts_as_it_inflates() -> None:
    """64 MiB of zeros, deflated to about 64 KiB, to a server allowing
    1 MiB: closed with 1009 having inflated little more than 1 MiB."""
    deflater = zlib.compressobj(wbits=-15)
    bomb = deflater.compress(bytes(64 * 1024 * 1024)) + deflater.flush(zlib.Z_SYNC_FLUSH)
    assert bomb.endswith(b"\x00\x00\xff\xff")
    frame = client_frame(BINARY, bomb[:-4], rsv1=True)
    async with actors.node(), ws_server(ws_max_message=1 << 20) as port:
        async with open_ws(port, deflate=True) as ws:
            assert ws.accepted.extensions
            tracemalloc.start()
            try:
                await ws.send_raw(frame)
                _, closed = await read_close(ws)
                _, peak = tracemalloc.get_traced_memory()
            finally:
                tracemalloc.stop()
        assert closed.code == 1009
        assert peak < 8 * 1024 * 1024, peak


# -- fragments, pings, sizes -----------------------------------------------------------------


async def test_rfc6455_5_4_a_message_of_many_tiny_fragments_is_refused_with_1009() -> None:
    frames = [client_frame(TEXT, b"a", fin=False)]
    frames += [client_frame(CONTINUATION, b"b", fin=False)] * 5000
    frames.append(client_frame(CONTINUATION, b"c"))
    async with actors.node(), ws_server(ws_loop=recorder(), ws_autoexit=False) as port:
        actors.register("test")
        async with open_ws(port) as ws:
            await ws.send_raw(b"".join(frames))
            messages, closed = await read_close(ws)
        assert (messages, closed.code) == ([], 1009)
        assert await got_until_closed() == []


async def test_rfc6455_5_4_many_fragments_that_carry_payload_are_fine() -> None:
    """Autobahn 9.4.1's shape: fragments of 64 bytes, here 4,000 of them."""
    piece = b"p" * 64
    frames = [client_frame(BINARY, piece, fin=False)]
    frames += [client_frame(CONTINUATION, piece, fin=False)] * 3998
    frames.append(client_frame(CONTINUATION, piece))
    async with actors.node(), ws_server() as port, open_ws(port) as ws:
        await ws.send_raw(b"".join(frames))
        assert await ws.receive() == piece * 4000


async def test_rfc6455_5_5_2_pings_are_each_answered_and_a_ping_flood_is_closed_with_1008() -> None:
    async with actors.node(), ws_server() as port:
        async with open_ws(port) as ws:
            for i in range(10):
                await ws.send_raw(client_frame(PING, f"ping {i}".encode()))
            await ws.send("after the pings")
            assert await ws.receive() == "after the pings"
            assert ws.pings == 0  # the client counts pings it got, not pongs
        async with open_ws(port) as ws:
            await ws.send_raw(client_frame(PING, b"") * 5000)  # in one write, never reading
            _, closed = await read_close(ws)
            assert closed.code == 1008


@pytest.mark.parametrize(("chars", "echoed"), [(250, True), (251, False)])
async def test_rfc6455_5_6_text_size_is_counted_in_utf8_bytes(chars: int, echoed: bool) -> None:
    text = "\U0001f600" * chars  # four bytes each: 1,000 bytes for 250
    async with actors.node(), ws_server(ws_max_message=1000) as port, open_ws(port) as ws:
        await ws.send(text)
        answer = await ws.receive()
        if echoed:
            assert answer == text
        else:
            assert isinstance(answer, Closed)
            assert answer.code == 1009


# -- closing: no busy-wait, one definition of a normal exit ------------------------------------


async def test_a_closing_socket_waits_for_its_handler_without_spinning() -> None:
    """Before its close frame the reader lets a busy handler finish, for a
    bounded time, waiting for an event: every task stays blocked."""

    async def busy(ws: websocket.Ws) -> None:
        await actors.receive(("browser", actors.ANY))
        actors.send("test", "busy")
        await trio.sleep_forever()  # busy elsewhere, never back in receive

    async with actors.node(), ws_server(ws_loop=busy) as port, open_ws(port) as ws:
        actors.register("test")
        await ws.send("work")
        await actors.receive("busy", timeout=5)
        await ws.send_raw(client_frame(0x8, struct.pack("!H", 1000)))
        with trio.fail_after(0.5):  # the grace is 1 s: this is inside it
            await trio.testing.wait_all_tasks_blocked(cushion=0.05)
        _, closed = await read_close(ws)
        assert closed.code == 1000


@pytest.mark.parametrize(
    ("reason", "code"), [(("shutdown", "bye"), 1000), ("shutdown", 1000), ("oops", 1011)]
)
async def test_a_handler_exit_on_purpose_closes_with_1000(reason: Any, code: int) -> None:
    async def leaver(ws: websocket.Ws) -> None:
        await actors.receive(("browser", actors.ANY))
        raise actors.ProcessExit(reason)

    async with actors.node(), ws_server(ws_loop=leaver) as port, open_ws(port) as ws:
        await ws.send("leave")
        _, closed = await read_close(ws)
        assert closed.code == code


# -- 4.2 the handshake's inputs ------------------------------------------------------------------


async def raw_upgrade(port: int, headers: list[tuple[str, str]]) -> tuple[int, dict[str, str]]:
    """Send an upgrade request as written; the status and headers of the answer."""
    with trio.fail_after(10):
        async with await trio.open_tcp_stream("127.0.0.1", port) as stream:
            lines = ["GET / HTTP/1.1", "Host: localhost", *(f"{k}: {v}" for k, v in headers)]
            await stream.send_all(("\r\n".join(lines) + "\r\n\r\n").encode())
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = await stream.receive_some(65536)
                assert chunk, data
                data += chunk
    status_line, *header_lines = data.split(b"\r\n\r\n")[0].decode().split("\r\n")
    answer = dict(line.lower().split(": ", 1) for line in header_lines)
    return int(status_line.split()[1]), answer


UPGRADE = [
    ("Upgrade", "websocket"),
    ("Connection", "Upgrade"),
    ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
    ("Sec-WebSocket-Version", "13"),
]


@pytest.mark.parametrize(
    ("offer", "agreed"),
    [
        ("permessage-deflate; client_max_window_bits=foo", None),
        ("permessage-deflate; client_max_window_bits=99", None),
        ("permessage-deflate; unknown_parameter", None),
        ("permessage-deflate; server_no_context_takeover; server_no_context_takeover", None),
        ("permessage-deflate; server_max_window_bits=8", None),
        ("permessage-deflate; server_no_context_takeover=1", None),
        ("x-webkit-deflate-frame", None),
        ("permessage-deflate; bad, permessage-deflate", "permessage-deflate"),
        (
            'permessage-deflate; server_max_window_bits="10"; client_max_window_bits',
            "permessage-deflate; server_max_window_bits=10",
        ),
    ],
)
async def test_rfc7692_5_a_bad_or_unknown_deflate_offer_is_declined(
    offer: str, agreed: str | None
) -> None:
    async with actors.node(), ws_server() as port:
        status, headers = await raw_upgrade(port, [*UPGRADE, ("Sec-WebSocket-Extensions", offer)])
        assert status == 101
        assert headers.get("sec-websocket-extensions") == agreed


async def test_rfc6455_4_2_1_a_repeated_key_is_refused_with_400() -> None:
    headers = [*UPGRADE, ("Sec-WebSocket-Key", "AAAAAAAAAAAAAAAAAAAAAA==")]
    async with actors.node(), ws_server() as port:
        status, _ = await raw_upgrade(port, headers)
        assert status == 400


async def test_rfc7692_each_compressed_message_has_the_whole_budget() -> None:
    """Two compressed messages of 3/4 of the limit each: both arrive."""
    async with (
        actors.node(),
        ws_server(ws_max_message=1 << 20) as port,
        open_ws(port, deflate=True) as ws,
    ):
        for fill in (b"a", b"b"):
            message = fill * (768 * 1024)
            await ws.send(message)
            assert await ws.receive() == message


async def test_a_client_that_sends_but_never_reads_is_closed_when_the_writer_stalls(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Frames from the client keep the socket alive to the ping timer, but
    a writer that gets no piece through for ws_ping_timeout means the client
    is not reading: 1008, as HTTP's send_timeout."""

    async def pusher(ws: websocket.Ws) -> None:
        actors.send("test", ("handler", actors.self()))
        await actors.receive(("browser", actors.ANY))
        for _ in range(64):  # 8 MiB: more than the socket buffers take
            ws.send(b"p" * 131072)
        await actors.receive("never sent")

    options = {"ws_loop": pusher, "ws_ping_interval": 10, "ws_ping_timeout": 10}
    async with actors.node(), ws_server(**options) as port:
        actors.register("test")
        async with open_ws(port) as ws:
            _, handler = await actors.receive(("handler", actors.ANY), timeout=10)
            ref = actors.monitor(handler)
            await ws.send("go")
            for _ in range(60):  # a pong every 3 s for 3 minutes, never reading
                try:
                    down = await actors.receive(actors.Down(ref, handler, actors.ANY), timeout=3)
                    break
                except actors.ReceiveTimeout:
                    await ws.send_raw(client_frame(0xA, b"still here"))
            else:
                pytest.fail("the socket of a client that never reads stayed open")
        assert down.reason == "normal"  # ended by the socket's close (ws_autoexit)
