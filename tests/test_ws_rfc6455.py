"""WebSockets (RFC 6455) over real sockets: handshake, framing, control
frames, every close code, back-pressure, pings, and many sockets at once."""

from __future__ import annotations

import gc
import logging
import struct
from typing import Any

import pytest
import trio
import trio.testing
from wsproto.events import BytesMessage, Ping, TextMessage

import actors
import httpserver
import websocket
from tests.http_helpers import fetch, http_server
from tests.ws_helpers import (
    Closed,
    Refused,
    WsClient,
    client_frame,
    handshake,
    open_ws,
    protocol,
)
from tests.ws_helpers import ws_protocol as ws_protocol

pytestmark = pytest.mark.usefixtures("ws_protocol")


async def plain_http(req: httpserver.Req) -> None:
    await req.ok(f"plain {req.path}")


async def echo(ws: websocket.Ws) -> None:
    while True:
        match await actors.receive():
            case ("browser", data):
                ws.send(data)
            case _:
                pass


def ws_server(**options: Any) -> Any:
    options.setdefault("loop", plain_http)
    options.setdefault("ws_loop", echo)
    options.setdefault("ws", protocol())
    return http_server(**options)


# -- 4. the opening handshake ------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"Sec-WebSocket-Version": "8"}, 426),
        ({"Sec-WebSocket-Key": "too-short"}, 400),
    ],
)
async def test_rfc6455_4_2_1_a_bad_handshake_is_refused(
    headers: dict[str, str], status: int
) -> None:
    base = {
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
        "Sec-WebSocket-Version": "13",
    } | headers
    async with actors.node(), ws_server() as port:
        response = await fetch(port, "/ws", headers=list(base.items()))
        assert response.status == status
        if status == 426:
            assert response.header("sec-websocket-version") == "13"


async def test_rfc6455_10_2_origins_outside_the_allow_list_get_403() -> None:
    async with actors.node(), ws_server(ws_origins=["https://good.example"]) as port:
        with trio.fail_after(10):
            _, _, refused = await handshake(port, headers=[("Origin", "https://evil.example")])
        assert isinstance(refused, Refused)
        assert refused.status == 403
        async with open_ws(port, headers=[("Origin", "https://good.example")]) as ws:
            await ws.send("ok")
            assert await ws.receive() == "ok"


async def test_without_ws_loop_an_upgrade_request_is_an_ordinary_request() -> None:
    async with actors.node(), http_server(loop=plain_http) as port:
        with trio.fail_after(10):
            _, _, answer = await handshake(port, "/chat")
        assert isinstance(answer, Refused)
        assert answer.status == 200


async def test_rfc6455_4_2_2_subprotocol_by_server_preference_and_the_ws_api() -> None:
    seen: dict[str, Any] = {}

    async def record(ws: websocket.Ws) -> None:
        seen.update(
            subprotocol=ws.subprotocol,
            path=ws.path,
            peer=ws.peer[0],
            origin=ws.origin,
            host=ws.host,
            cookie=ws.cookies.get("k"),
            pid=ws.pid == actors.self(),
        )
        ws.send("ready")
        await actors.receive("never")

    async with (
        actors.node(),
        ws_server(ws_loop=record, ws_subprotocols=["chat", "superchat"]) as port,
    ):
        headers = [("Origin", "https://o.example"), ("Cookie", "k=v%20w")]
        async with open_ws(
            port, "/room/1", headers=headers, subprotocols=["superchat", "chat"]
        ) as ws:
            assert await ws.receive() == "ready"
            assert ws.accepted.subprotocol == "chat"
    assert seen == {
        "subprotocol": "chat",
        "path": "/room/1",
        "peer": "127.0.0.1",
        "origin": "https://o.example",
        "host": "localhost",
        "cookie": "v w",
        "pid": True,
    }


async def test_a_handler_reads_every_handshake_header_as_sent_for_the_sockets_life() -> None:
    """The request a socket keeps for its life holds its headers packed
    (memory per idle socket): read back, each one is there, in order,
    repeated and empty values included."""
    sent = [
        ("X-Empty", ""),
        ("X-Twice", "a"),
        ("X-Twice", "b c"),
        ("User-Agent", "probe/1.0 (colon: inside)"),
    ]
    seen: list[Any] = []

    async def record(ws: websocket.Ws) -> None:
        await actors.receive(("browser", "read"))  # well after the switch
        seen.extend([ws.headers.items(), ws.headers.getall("x-twice"), ws.headers.get("x-empty")])
        ws.send("done")
        await actors.receive("never")

    async with actors.node(), ws_server(ws_loop=record) as port, open_ws(port, headers=sent) as ws:
        await ws.send("read")
        assert await ws.receive() == "done"
    items, twice, empty = seen
    assert [(k, v) for k, v in items if k.startswith("x-") or k == "user-agent"] == [
        (k.lower(), v) for k, v in sent
    ]
    assert ("upgrade", "websocket") in items
    assert ("host", "localhost") in items
    assert twice == ["a", "b c"]
    assert empty == ""


async def test_a_socket_reads_and_saves_the_http_session_of_its_request() -> None:
    """`Ws.session` is the session the upgrade request's cookie names (a
    socket cannot set cookies: without one, LookupError); what
    `save_session_state` stores, the next request of that session reads."""

    async def counter(req: httpserver.Req) -> None:
        session_id, state = await req.session()
        await req.save_session_state(session_id, state or 0)
        await req.ok(str(state or 0))

    async def bump(ws: websocket.Ws) -> None:
        try:
            session_id, state = await ws.session()
        except LookupError:
            ws.send("no session")
        else:
            await ws.save_session_state(session_id, state + 1)
            ws.send(f"bumped {state}")
        await actors.receive("never")

    async with actors.node(), ws_server(loop=counter, ws_loop=bump) as port:
        first = await fetch(port)
        cookie = first.header("set-cookie")
        assert cookie is not None
        session = cookie.split(";")[0]
        async with open_ws(port) as ws:
            assert await ws.receive() == "no session"
        async with open_ws(port, headers=[("Cookie", session)]) as ws:
            assert await ws.receive() == "bumped 0"
        again = await fetch(port, headers=[("Cookie", session)])
        assert again.text == "1"


@pytest.mark.parametrize("compress", [True, False])
async def test_rfc7692_permessage_deflate_is_negotiated_when_offered(compress: bool) -> None:
    async with (
        actors.node(),
        ws_server(ws_compress=compress) as port,
        open_ws(port, deflate=True) as ws,
    ):
        agreed = [e.name for e in ws.accepted.extensions]
        assert agreed == (["permessage-deflate"] if compress else [])
        text = "compress me " * 500
        await ws.send(text)
        assert await ws.receive() == text
        await ws.send(b"\x00" * 10_000)
        assert await ws.receive() == b"\x00" * 10_000


# -- 5. data framing ------------------------------------------------------------------


async def test_rfc6455_5_6_text_arrives_as_str_and_binary_as_bytes() -> None:
    got: list[Any] = []

    async def kinds(ws: websocket.Ws) -> None:
        while True:
            _, data = await actors.receive(("browser", actors.ANY))
            got.append(data)
            ws.send(type(data).__name__)

    async with actors.node(), ws_server(ws_loop=kinds) as port, open_ws(port) as ws:
        await ws.send("text ✓")
        assert await ws.receive() == "str"
        await ws.send(b"\xff\x00")
        assert await ws.receive() == "bytes"
    assert got == ["text ✓", b"\xff\x00"]


async def test_rfc6455_5_4_a_fragmented_message_arrives_whole() -> None:
    async with actors.node(), ws_server() as port, open_ws(port) as ws:
        conn = ws.conn
        for piece, last in (("frag", False), ("mented ", False), ("message", True)):
            await ws.send_raw(conn.send(TextMessage(data=piece, message_finished=last)))
        assert await ws.receive() == "fragmented message"
        for chunk, last in ((b"\x01", False), (b"\x02", True)):
            await ws.send_raw(conn.send(BytesMessage(data=chunk, message_finished=last)))
        assert await ws.receive() == b"\x01\x02"


async def test_rfc6455_5_5_2_a_ping_is_answered_with_its_payload() -> None:
    async with actors.node(), ws_server() as port, open_ws(port) as ws:
        await ws.send_raw(ws.conn.send(Ping(payload=b"are you there")))
        with trio.fail_after(5):
            while True:
                data = await ws.stream.receive_some(100)
                ws.conn.receive_data(bytes(data))
                events = list(ws.conn.events())
                if events:
                    break
        assert [type(e).__name__ for e in events] == ["Pong"]
        assert events[0].payload == b"are you there"  # type: ignore[attr-defined]


async def test_rfc6455_5_5_2_a_ping_whose_payload_comes_in_a_later_read_is_a_ping() -> None:
    """A control frame's header read alone, its payload in the next read:
    the payload is the ping's, whatever it looks like (here, the bytes of
    a whole masked text frame, sent with a zero mask so that they travel as
    they are), and the frames after it are read in step."""
    key = b"\x01\x02\x03\x04"
    looks_like_a_frame = (
        bytes([0x81, 0x86]) + key + bytes(b ^ key[i % 4] for i, b in enumerate(b"hello!"))
    )
    head = bytes([0x89, 0x80 | len(looks_like_a_frame)]) + bytes(4)
    async with actors.node(), ws_server() as port, open_ws(port) as ws:
        # The ping's header goes in one segment with a whole message: its
        # echo says the server has read both.
        await ws.send_raw(ws.conn.send(TextMessage(data="first")) + head)
        assert await ws.receive() == "first"
        await ws.send_raw(looks_like_a_frame)
        await ws.send("after")
        events: list[Any] = []
        with trio.fail_after(5):
            while not any(isinstance(e, TextMessage) for e in events):
                data = await ws.stream.receive_some(65536)
                assert data, events
                ws.conn.receive_data(bytes(data))
                events += list(ws.conn.events())
    assert [type(e).__name__ for e in events] == ["Pong", "TextMessage"]
    assert events[0].payload == looks_like_a_frame
    assert events[1].data == "after"


async def test_rfc6455_5_1_an_unmasked_client_frame_fails_with_1002() -> None:
    async with actors.node(), ws_server() as port, open_ws(port) as ws:
        await ws.send_raw(b"\x81\x02hi")  # no mask bit
        closed = await ws.receive()
        assert isinstance(closed, Closed)
        assert closed.code == 1002


async def test_rfc6455_8_1_invalid_utf8_fails_with_1007() -> None:
    async with actors.node(), ws_server() as port, open_ws(port) as ws:
        mask = b"\x00\x00\x00\x00"
        await ws.send_raw(b"\x81\x82" + mask + b"\xc3\x28")
        closed = await ws.receive()
        assert isinstance(closed, Closed)
        assert closed.code == 1007


async def test_rfc6455_8_1_invalid_utf8_fails_fast_in_the_middle_of_a_frame() -> None:
    """The close comes while most of the frame has not been sent: the
    payload is checked as it arrives (Autobahn 6.4.3), on either backend."""
    async with actors.node(), ws_server() as port, open_ws(port) as ws:
        frame = client_frame(0x1, b"ok \xff" + b"x" * 996)
        await ws.send_raw(frame[:20])  # the header, the mask, "ok " and the bad byte
        closed = await ws.receive(timeout=5)
        assert isinstance(closed, Closed)
        assert closed.code == 1007


@pytest.mark.parametrize("piece", [1, 3, 7, 1000])
async def test_rfc6455_5_3_a_masked_frame_in_pieces_is_unmasked_whole(piece: int) -> None:
    """Each piece of a payload is unmasked with the key at its offset."""
    text = "é✓-" * 100  # multi-byte characters cut across pieces, too
    async with actors.node(), ws_server() as port, open_ws(port) as ws:
        frame = client_frame(0x1, text.encode())
        for start in range(0, len(frame), piece):
            await ws.send_raw(frame[start : start + piece])
        assert await ws.receive() == text
        fragments = [client_frame(0x1, b"fr", fin=False), client_frame(0x0, b"ag")]
        await ws.send_raw(b"".join(fragments))
        assert await ws.receive() == "frag"


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        (struct.pack("!H", 1014), 1002),  # unassigned below 3000
        (struct.pack("!H", 1005), 1002),  # never sent on the wire
        (struct.pack("!H", 999), 1002),
        (b"\x03", 1002),  # one byte
        (struct.pack("!H", 4000) + b"\xff", 1007),  # a reason that is not UTF-8
    ],
)
async def test_rfc6455_7_4_a_close_frame_with_a_bad_code_or_reason_fails(
    payload: bytes, code: int
) -> None:
    async with actors.node(), ws_server() as port, open_ws(port) as ws:
        await ws.send_raw(client_frame(0x8, payload))
        closed = await ws.receive()
        assert isinstance(closed, Closed)
        assert closed.code == code


async def test_rfc6455_5_2_a_length_not_in_its_shortest_form_fails_with_1002() -> None:
    async with actors.node(), ws_server() as port, open_ws(port) as ws:
        await ws.send_raw(b"\x82\xfe\x00\x05" + bytes(4) + b"hello")  # 5 in 16 bits
        closed = await ws.receive()
        assert isinstance(closed, Closed)
        assert closed.code == 1002


async def test_a_message_past_ws_max_message_closes_with_1009() -> None:
    async with actors.node(), ws_server(ws_max_message=1000) as port, open_ws(port) as ws:
        await ws.send("x" * 1000)
        assert await ws.receive() == "x" * 1000
        await ws.send("y" * 1001)
        closed = await ws.receive()
        assert isinstance(closed, Closed)
        assert closed.code == 1009


# -- 7. closing -----------------------------------------------------------------------


async def test_rfc6455_7_1_5_a_clean_close_from_the_client_is_answered_in_kind() -> None:
    async with actors.node(), ws_server() as port, open_ws(port) as ws:
        await ws.send("before")
        assert await ws.receive() == "before"
        assert await ws.close(4000, "done") == Closed(4000, "")
        await ws.wait_eof()


async def test_a_handler_that_returns_closes_with_1000_and_one_that_crashes_with_1011(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.ERROR, logger="actors")

    async def short_lived(ws: websocket.Ws) -> None:
        _, data = await actors.receive(("browser", actors.ANY))
        if data == "crash":
            raise ZeroDivisionError("handler bug")
        ws.send("bye")

    async with actors.node(), ws_server(ws_loop=short_lived) as port:
        async with open_ws(port) as ws:
            await ws.send("leave")
            assert await ws.receive() == "bye"
            assert await ws.receive() == Closed(1000, "")
        async with open_ws(port) as ws:
            await ws.send("crash")
            closed = await ws.receive()
            assert isinstance(closed, Closed)
            assert closed.code == 1011
    assert "ZeroDivisionError" in caplog.text
    assert "crash report" in caplog.text


async def test_ws_close_sends_its_code_after_everything_sent_before() -> None:
    async def closer(ws: websocket.Ws) -> None:
        await actors.receive(("browser", actors.ANY))
        for i in range(100):
            ws.send(f"message {i}")
        ws.close(4001, "see you")
        ws.send("dropped: after the close")
        await actors.receive("never")

    async with actors.node(), ws_server(ws_loop=closer) as port, open_ws(port) as ws:
        await ws.send("go")
        got = [await ws.receive() for _ in range(101)]
        assert got[:100] == [f"message {i}" for i in range(100)]
        assert got[100] == Closed(4001, "see you")


@pytest.mark.parametrize("autoexit", [True, False])
async def test_a_closed_socket_ends_its_handler_or_tells_it(autoexit: bool) -> None:
    outcome: list[Any] = []
    watcher_ready = trio.Event()

    async def handler(ws: websocket.Ws) -> None:
        actors.send("test", ("handler", actors.self()))
        await watcher_ready.wait()
        outcome.append(await actors.receive("closed"))

    async with actors.node(), ws_server(ws_loop=handler, ws_autoexit=autoexit) as port:
        actors.register("test")
        async with open_ws(port) as ws:
            _, pid = await actors.receive(("handler", actors.ANY), timeout=5)
            ref = actors.monitor(pid)
            watcher_ready.set()
            await ws.close()
        down = await actors.receive(actors.Down(ref, pid, actors.ANY), timeout=5)
    assert down.reason == "normal"
    assert outcome == ([] if autoexit else ["closed"])


async def test_stopping_the_server_closes_sockets_with_1001() -> None:
    async with actors.node():
        server = httpserver.start(
            ip="127.0.0.1", port=0, loop=plain_http, ws_loop=echo, ws=protocol()
        )
        async with open_ws(httpserver.port(server)) as ws:
            await ws.send("hi")
            assert await ws.receive() == "hi"
            async with trio.open_nursery() as nursery:
                nursery.start_soon(httpserver.stop, server)
                closed = await ws.receive()
        assert isinstance(closed, Closed)
        assert closed.code == 1001


# -- back-pressure, pings, and many sockets -------------------------------------------------


async def test_a_client_that_stops_reading_is_closed_with_1008_and_memory_stays_bounded() -> None:
    max_queue = 256 * 1024
    chunk = b"z" * 16384
    peak: list[int] = []
    stopped = trio.Event()

    async def flood(ws: websocket.Ws) -> None:
        await actors.receive(("browser", actors.ANY))
        try:
            for _ in range(10_000):  # 160 MiB if nothing stopped it
                ws.send(chunk)
                peak.append(ws.queued)
                await trio.lowlevel.checkpoint()
                if not ws.is_open:
                    break
            await actors.receive("never")
        finally:  # the overflow may end the handler (ws_autoexit) first
            stopped.set()

    async with actors.node(), ws_server(ws_loop=flood, ws_max_queue=max_queue) as port:
        async with open_ws(port) as ws:
            await ws.send("go")  # and then read nothing
            with trio.fail_after(10):
                await stopped.wait()
            assert len(peak) < 10_000  # the flood was stopped
            assert max(peak) <= max_queue + len(chunk)
            closed = None
            with trio.fail_after(10):
                while closed is None:  # reading now: what was written, then 1008
                    message = await ws.receive()
                    if isinstance(message, Closed):
                        closed = message
        assert closed.code == 1008


async def test_a_silent_peer_is_pinged_and_closed_when_it_does_not_answer() -> None:
    async with actors.node(), ws_server(ws_ping_interval=0.2, ws_ping_timeout=0.3) as port:
        with trio.fail_after(10):
            stream, _, answer = await handshake(port)
            async with stream:
                assert not isinstance(answer, Refused)
                received = b""
                while True:  # read without answering anything
                    data = await stream.receive_some(1024)
                    if not data:
                        break
                    received += data
        assert received.startswith(b"\x89")  # a ping came first
        assert b"\x88" in received  # then a close frame (1011), then the TCP close


async def test_a_peer_that_answers_pings_stays_connected() -> None:
    async with (
        actors.node(),
        ws_server(ws_ping_interval=0.1, ws_ping_timeout=0.3) as port,
        open_ws(port) as ws,
    ):
        with trio.move_on_after(1.0):
            await ws.receive()  # answers pings while it waits; no message comes
        assert ws.pings >= 3
        await ws.send("still here")
        assert await ws.receive() == "still here"


async def test_a_thousand_concurrent_sockets() -> None:
    async with actors.node(), ws_server() as port:
        answers: list[Any] = []

        async def client(n: int, sockets: list[WsClient]) -> None:
            async with open_ws(port, f"/{n}") as ws:
                sockets.append(ws)
                await ws.send(f"hello {n}")
                answers.append(await ws.receive(timeout=60))
                await opened.wait()
                await ws.close()

        opened = trio.Event()
        sockets: list[WsClient] = []
        with trio.fail_after(120):
            async with trio.open_nursery() as nursery:
                for n in range(1000):
                    nursery.start_soon(client, n, sockets)
                while len(answers) < 1000:
                    await trio.testing.wait_all_tasks_blocked()
                assert len(websocket._ws.by_handler()) == 1000
                opened.set()
    assert sorted(answers) == sorted(f"hello {n}" for n in range(1000))


async def test_broadcast_frames_once_and_reaches_a_group_of_handlers() -> None:
    async def member(ws: websocket.Ws) -> None:
        actors.join("room")
        actors.join(("room", 2))  # a tuple is a group name too
        ws.send("joined")
        await actors.receive("never")

    async with actors.node(), ws_server(ws_loop=member) as port, trio.open_nursery() as nursery:
        clients: list[WsClient] = []
        ready = trio.Event()

        async def client(deflate: bool) -> None:
            async with open_ws(port, deflate=deflate) as ws:
                assert await ws.receive() == "joined"
                clients.append(ws)
                if len(clients) == 50:
                    ready.set()
                await trio.sleep_forever()

        for n in range(50):
            nursery.start_soon(client, n % 5 == 0)
        await ready.wait()
        await trio.testing.wait_all_tasks_blocked()
        assert len(actors.members("room")) == 50
        assert websocket.broadcast("room", "to everyone") == 50
        assert websocket.broadcast(list(websocket._ws.by_handler().values())[:3], b"\x01") == 3
        got = [await ws.receive() for ws in clients]
        assert got == ["to everyone"] * 50
        nursery.cancel_scope.cancel()


def test_frames_have_the_right_length_encoding() -> None:
    from websocket._frames import frame

    assert frame("hi") == b"\x81\x02hi"
    assert frame(b"x" * 126)[:4] == b"\x82\x7e" + struct.pack("!H", 126)
    assert frame(b"x" * 65536)[:10] == b"\x82\x7f" + struct.pack("!Q", 65536)


async def test_a_burst_of_broadcasts_is_one_write_per_socket_and_keeps_order(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """100 broadcasts in one turn, then a message of the handler's own:
    each socket gets them all, in order, in one write (not 101)."""
    import os

    writes: list[int] = []
    real_write = os.write

    def counting_write(fd: int, data: Any) -> int:
        writes.append(fd)
        return real_write(fd, data)

    async def member(ws: websocket.Ws) -> None:
        actors.join("burst")
        ws.send("joined")
        while True:
            match await actors.receive():
                case ("browser", "go"):
                    for n in range(100):
                        websocket.broadcast("burst", f"news {n}")
                    ws.send("mine")
                case _:
                    pass

    async with actors.node(), ws_server(ws_loop=member) as port:
        async with open_ws(port) as first, open_ws(port) as second:
            assert await first.receive() == "joined"
            assert await second.receive() == "joined"
            monkeypatch.setattr("websocket._socket.os.write", counting_write)
            await first.send("go")
            expected = [f"news {n}" for n in range(100)]
            assert [await first.receive() for _ in range(101)] == [*expected, "mine"]
            assert [await second.receive() for _ in range(100)] == expected
            monkeypatch.undo()
        assert len(writes) == 2, writes


async def test_a_socket_over_tls_reads_frames_pauses_and_fails_as_plain_tcp(
    tmp_path: Any,
) -> None:
    """wss:// is read by a pump task rather than the node's poller: the same
    frames, back-pressure and failing (1009) come out of it."""
    import ssl

    import trustme

    ca = trustme.CA()
    cert = ca.issue_cert("localhost", "127.0.0.1")
    certfile, keyfile = str(tmp_path / "cert.pem"), str(tmp_path / "key.pem")
    cert.private_key_pem.write_to_path(keyfile)
    cert.cert_chain_pems[0].write_to_path(certfile)
    client = ssl.create_default_context()
    ca.configure_trust(client)
    options = {"ssl": {"certfile": certfile, "keyfile": keyfile}, "ws_max_message": 1000}
    async with (
        actors.node(),
        ws_server(ws_max_pending=(2, 1 << 20), **options) as port,
        open_ws(port, tls=client) as ws,
    ):
        for n in range(20):  # past ws_max_pending: the pump waits, then goes on
            await ws.send(f"m{n}")
        assert [await ws.receive() for _ in range(20)] == [f"m{n}" for n in range(20)]
        await ws.send_raw(client_frame(0x1, b"fr", fin=False) + client_frame(0x0, b"ag"))
        assert await ws.receive() == "frag"
        await ws.send("y" * 1001)
        closed = await ws.receive()
        assert isinstance(closed, Closed)
        assert closed.code == 1009


# -- the reader's task: out of the path of each message -------------------------------


class TaskSteps(trio.abc.Instrument):
    """Counts the steps each task runs."""

    def __init__(self) -> None:
        self.steps: dict[trio.lowlevel.Task, int] = {}

    def before_task_step(self, task: trio.lowlevel.Task) -> None:
        self.steps[task] = self.steps.get(task, 0) + 1


async def test_a_message_reaches_the_handler_with_no_step_of_the_readers_task() -> None:
    """On plain TCP a waiting reader's bytes are read and parsed where the
    poller learns of them: each message costs the handler's hop alone."""
    from actors._process import by_task

    readers: list[actors.Pid] = []

    async def echo_telling_reader(ws: websocket.Ws) -> None:
        assert ws._sock is not None
        readers.append(ws._sock.reader)
        await echo(ws)

    async with (
        actors.node(),
        ws_server(ws_loop=echo_telling_reader) as port,
        open_ws(port) as ws,
    ):
        await ws.send("warm up")
        assert await ws.receive() == "warm up"
        reader_task = next(task for task, proc in by_task.items() if proc.pid == readers[0])
        counter = TaskSteps()
        trio.lowlevel.add_instrument(counter)
        try:
            for i in range(20):
                await ws.send(f"message {i}")
                assert await ws.receive() == f"message {i}"
        finally:
            trio.lowlevel.remove_instrument(counter)
        assert counter.steps.get(reader_task, 0) == 0


class CountingEpoll:
    """An epoll set that counts the changes made to it (epoll_ctl calls)."""

    def __init__(self, epoll: Any) -> None:
        self._epoll = epoll
        self.changes = 0

    def register(self, fd: int, mask: int) -> None:
        self.changes += 1
        self._epoll.register(fd, mask)

    def modify(self, fd: int, mask: int) -> None:
        self.changes += 1
        self._epoll.modify(fd, mask)

    def unregister(self, fd: int) -> None:
        self.changes += 1
        self._epoll.unregister(fd)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._epoll, name)


async def test_asking_for_the_next_bytes_costs_no_epoll_change() -> None:
    """The poller's epoll set is edge-triggered: a socket is added once, not
    armed again with a system call after every message."""
    from websocket._poller import poller as node_poller

    async with actors.node(), ws_server() as port, open_ws(port) as ws:
        await ws.send("warm up")
        assert await ws.receive() == "warm up"
        poller = node_poller()
        counting = CountingEpoll(poller._epoll)
        poller._epoll = counting  # type: ignore[assignment]
        try:
            for i in range(20):
                await ws.send(f"message {i}")
                assert await ws.receive() == f"message {i}"
        finally:
            poller._epoll = counting._epoll
        assert counting.changes == 0


async def test_bytes_already_waiting_past_a_full_read_are_read_without_a_new_edge() -> None:
    """A message of many receive buffers, all in the socket before the first
    read: no new bytes (no edge) come after it, and it still arrives whole."""
    big = bytes(range(256)) * 4096  # 1 MiB: sixteen full reads

    async def gate(ws: websocket.Ws) -> None:
        await actors.receive("go")  # the whole message waits in the socket first
        await echo(ws)

    async with actors.node(), ws_server(ws_loop=gate) as port, open_ws(port) as ws:
        await ws.send(big)
        await trio.testing.wait_all_tasks_blocked(cushion=0.05)
        actors.send(next(iter(websocket._ws.by_handler())), "go")
        assert await ws.receive() == big


async def test_the_101_goes_straight_to_a_plain_socket(monkeypatch: pytest.MonkeyPatch) -> None:
    """As every HTTP response: written with one system call when the socket
    takes it all, not through trio's send_all (a tenth of a handshake)."""

    sent: list[bytes] = []
    send_all = trio.SocketStream.send_all

    async def spy(self: trio.SocketStream, data: Any) -> None:
        sent.append(bytes(data))
        await send_all(self, data)

    monkeypatch.setattr(trio.SocketStream, "send_all", spy)
    async with actors.node(), ws_server() as port:
        stream, _, accepted = await handshake(port)
        assert not isinstance(accepted, Refused)
        await stream.aclose()
    assert sent  # the client's request
    assert not [data for data in sent if data.startswith(b"HTTP/1.1 101")]


def await_chain(task: trio.lowlevel.Task) -> list[str]:
    """The qualified names of the coroutines `task` waits in, outermost first."""
    names = []
    coro: Any = task.coro
    while coro is not None:
        names.append(getattr(coro, "__qualname__", type(coro).__name__))
        coro = getattr(coro, "cr_await", None) or getattr(coro, "gi_yieldfrom", None)
    return names


async def test_an_idle_socket_keeps_no_http_request_loop_nor_parser() -> None:
    """After the 101 the connection process leaves HTTP's request loop (and
    its deadline scope and parser) before it becomes the reader: an idle
    socket holds only what it needs, for the collector to walk, and its
    reader waits in one frame of ours (`serve_websocket`)."""
    from actors._process import by_task
    from websocket._wsproto_inbound import WsprotoInbound

    readers: list[actors.Pid] = []

    async def idle(ws: websocket.Ws) -> None:
        assert ws._sock is not None
        readers.append(ws._sock.reader)
        ws.send("ready")
        await actors.receive("never")

    async with actors.node(), ws_server(ws_loop=idle) as port, open_ws(port) as ws:
        assert await ws.receive() == "ready"
        reader_task = next(task for task, proc in by_task.items() if proc.pid == readers[0])
        chain = await_chain(reader_task)
        assert "connection_main" in chain
        assert "Connection.serve" not in chain
        # One frame of the websocket package's between HTTP and the mailbox:
        # each frame more on an idle socket's stack costs it some 250 bytes.
        between = chain[chain.index("connection_main") + 1 : chain.index("receive")]
        assert between == ["serve_websocket"], chain
        if protocol() == "wsproto":  # wsproto's Connection comes with the first bytes
            gc.collect()  # earlier tests' ended sockets wait in cycles (a Pid and its process)
            (inbound,) = [obj for obj in gc.get_objects() if type(obj) is WsprotoInbound]
            assert inbound._conn is None
            await ws.send("first bytes")
            await trio.testing.wait_all_tasks_blocked()
            assert inbound._conn is not None
