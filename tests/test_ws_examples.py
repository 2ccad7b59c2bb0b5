"""The WebSocket examples, started as programs and checked over real sockets."""

from __future__ import annotations

import re
import ssl
from contextlib import AsyncExitStack
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import trio

from tests.http_helpers import ROOT, example, fetch
from tests.ws_helpers import Closed, WsClient, handshake, open_ws


async def test_websocket_example_page_echo_and_push() -> None:
    """examples.websocket_example: the page, the answers, and "pushing!"."""
    async with example("websocket_example") as server:
        page = await fetch(server.port, "/")
        assert page.status == 200
        assert 'new WebSocket(SCHEME + location.host + "/service")' in page.text
        assert 'ws.send("hello server!")' in page.text
        async with open_ws(server.port, "/service") as ws:
            await ws.send("hello server!")
            assert await ws.receive() == "received 'hello server!'"
            await ws.send("second")
            assert await ws.receive() == "received 'second'"
            assert await ws.receive(timeout=8) == "pushing!"
            assert await ws.close() == Closed(1000, "")


def local_port(ws: WsClient) -> int:
    """The client's own port: how the examples' lines name its socket."""
    stream = ws.stream
    while isinstance(stream, trio.SSLStream):
        stream = stream.transport_stream
    assert isinstance(stream, trio.SocketStream)
    port: int = stream.socket.getsockname()[1]
    return port


async def test_websocket_example_ssl_page_and_socket_over_tls(tmp_path: Path) -> None:
    """examples.websocket_example_ssl: https page, wss socket, a run-time CA."""
    ca_file = tmp_path / "ca.pem"
    async with example("websocket_example_ssl", "--ca-file", str(ca_file)) as server:
        assert f"listening on https://127.0.0.1:{server.port}/" in server.output()
        assert "PRIVATE KEY" not in ca_file.read_text()
        trusting = ssl.create_default_context(cafile=str(ca_file))
        page = await fetch(server.port, "/", tls=trusting)
        assert page.status == 200
        assert 'new WebSocket(SCHEME + location.host + "/service")' in page.text
        assert 'location.protocol === "https:" ? "wss://" : "ws://"' in page.text
        async with open_ws(server.port, "/service", tls=trusting) as ws:
            await ws.send("hello server!")
            assert await ws.receive() == "received 'hello server!'"
            await ws.send("over TLS")
            assert await ws.receive() == "received 'over TLS'"
            assert await ws.close() == Closed(1000, "")
        # Only a client that trusts the run-time CA gets in.
        with pytest.raises(trio.BrokenResourceError) as refused:
            await handshake(server.port, "/service", tls=ssl.create_default_context())
        assert isinstance(refused.value.__cause__, ssl.SSLCertVerificationError)


async def test_websocket_event_example_handler_hears_the_close() -> None:
    """examples.websocket_event_example: ws_autoexit=False, "closed" is printed."""
    async with example("websocket_event_example") as server:
        page = await fetch(server.port, "/")
        assert 'new WebSocket(SCHEME + location.host + "/service")' in page.text
        async with open_ws(server.port, "/service") as ws:
            line = f"The WebSocket was CLOSED! (127.0.0.1:{local_port(ws)})"
            await ws.send("hello server!")
            assert await ws.receive() == "received 'hello server!'"
            assert "CLOSED" not in server.output()
            assert await ws.close() == Closed(1000, "")
        assert line in await server.wait_for(line)
        assert server.output().count("CLOSED") == 1


async def test_websocket_event_example2_buttons_and_each_close_heard() -> None:
    """examples.websocket_event_example2: connect / disconnect / send, and
    "closed" for a closing handshake as for a dropped connection."""
    async with example("websocket_event_example2") as server:
        page = await fetch(server.port, "/")
        assert page.status == 200
        for control in (
            '<input type="button" id="connect" value="connect" onclick="connect();">',
            '<input type="button" id="disconnect" value="disconnect" onclick="disconnect();">',
            '<input type="button" id="send" value="send"',
            '<input type="text" id="message"',
        ):
            assert control in page.text
        assert 'new WebSocket(SCHEME + location.host + "/service")' in page.text
        assert "onload" not in page.text  # nothing connects until "connect"

        async with open_ws(server.port, "/service") as ws:  # connect, send, disconnect
            first = f"The WebSocket was CLOSED! (127.0.0.1:{local_port(ws)})"
            await ws.send("hello server!")
            assert await ws.receive() == "received 'hello server!'"
            await ws.send("typed in the field")
            assert await ws.receive() == "received 'typed in the field'"
            assert await ws.close() == Closed(1000, "")
        assert first in await server.wait_for(first)

        async with open_ws(server.port, "/service") as ws:  # connect again, then drop
            second = f"The WebSocket was CLOSED! (127.0.0.1:{local_port(ws)})"
            await ws.send("again")
            assert await ws.receive() == "received 'again'"
            await ws.stream.aclose()  # no closing handshake: the TCP connection ends
        assert second in await server.wait_for(second)
        assert server.output().count("CLOSED") == 2


PUSHED = re.compile(r"pushed (\d+) time\(s\) for user with session IP: 127\.0\.0\.1")


async def pushed(ws: WsClient) -> int:
    message = await ws.receive()
    assert isinstance(message, str)
    found = PUSHED.fullmatch(message)
    assert found is not None, message
    return int(found[1])


async def test_websocket_sessions_example_socket_reads_and_updates_the_session() -> None:
    """examples.websocket_sessions_example: the page starts the session, the
    socket counts its pushes in it; no session is said so, then 1008."""
    async with example("websocket_sessions_example", "--push-every", "0.3") as server:
        page = await fetch(server.port, "/")
        assert 'new WebSocket(SCHEME + location.host + "/service")' in page.text
        set_cookie = page.header("set-cookie")
        assert set_cookie is not None
        cookie = set_cookie.split(";")[0]
        assert re.fullmatch(r"misultin_session=[0-9a-f]{32}", cookie)
        with_session = [("Cookie", cookie)]

        async with open_ws(server.port, "/service", headers=with_session) as ws:
            await ws.send("hello server!")
            assert await ws.receive() == "received 'hello server!'"
            assert await pushed(ws) == 1
            assert await pushed(ws) == 2
            assert await ws.close() == Closed(1000, "")
        # The count is in the session, not in the handler: a new socket goes on.
        async with open_ws(server.port, "/service", headers=with_session) as ws:
            assert await pushed(ws) >= 3
            assert await ws.close() == Closed(1000, "")
        # Loading the page again keeps the session and starts the count again.
        again = await fetch(server.port, "/", headers=with_session)
        assert again.status == 200
        assert again.header("set-cookie") is None
        async with open_ws(server.port, "/service", headers=with_session) as ws:
            assert await pushed(ws) == 1
            assert await ws.close() == Closed(1000, "")

        for headers in ([], [("Cookie", "misultin_session=" + "0" * 32)]):
            async with open_ws(server.port, "/service", headers=headers) as ws:
                told = await ws.receive()
                assert isinstance(told, str)
                assert told.startswith("no session: load the page first")
                assert await ws.receive() == Closed(1008, "no HTTP session")
        assert "Traceback" not in server.output()


async def test_page_dispatcher_serves_pages_and_runs_their_handlers() -> None:
    """examples.page_dispatcher: /NAME.html and /ws/NAME from examples/pages/."""
    pages = ROOT / "examples" / "pages"
    async with example("page_dispatcher") as server:
        index = await fetch(server.port, "/")
        assert '<a href="/clock.html">' in index.text
        assert '<a href="/echo.html">' in index.text
        for name in ("echo", "clock"):
            page = await fetch(server.port, f"/{name}.html")
            assert page.status == 200
            assert (page.header("content-type") or "").startswith("text/html")
            assert page.body == (pages / f"{name}.html").read_bytes()
            assert f'"/ws/{name}"' in page.text

        async with open_ws(server.port, "/ws/echo") as ws:
            await ws.send("hello echo")
            assert await ws.receive() == "hello echo"
            await ws.send(b"\x00\xffbinary")
            assert await ws.receive() == b"\x00\xffbinary"
            assert await ws.close() == Closed(1000, "")

        async with open_ws(server.port, "/ws/clock") as ws:
            first = await ws.receive()
            await ws.send("ignored")  # does not shift the ticks
            second = await ws.receive(timeout=3)
            assert isinstance(first, str)
            assert isinstance(second, str)
            earlier, later = datetime.fromisoformat(first), datetime.fromisoformat(second)
            assert timedelta(seconds=1) <= later - earlier <= timedelta(seconds=2)
            assert await ws.close() == Closed(1000, "")
        assert "Traceback" not in server.output()


async def test_page_dispatcher_unknown_or_unsafe_pages_are_404() -> None:
    """examples.page_dispatcher: only safe names of files in examples/pages/."""
    async with example("page_dispatcher") as server:
        for path in (
            "/nope.html",
            "/ECHO.html",
            "/echo.py",
            "/echo",
            "/pages/echo.html",
            "/../pages/echo.html",
            "/%2e%2e%2fREADME.html",
            "/..%2F..%2Fpyproject.html",
            "/__init__.html",
            "/echo.html%00.py",
            "/echo.html%0a",
        ):
            response = await fetch(server.port, path)
            assert response.status == 404, path
            assert b"<html" not in response.body, path
        assert (await fetch(server.port, "/echo.html")).status == 200  # still serving


async def test_page_dispatcher_unknown_or_unsafe_sockets_are_closed_4404() -> None:
    """examples.page_dispatcher: a socket for no page is closed, no module runs."""
    async with example("page_dispatcher") as server:
        for path in ("/ws/nope", "/ws/__init__", "/ws/..%2Fchat", "/ws/", "/echo", "/ws/echo/x"):
            async with open_ws(server.port, path) as ws:
                assert await ws.receive() == Closed(4404, "no such page"), path
        async with open_ws(server.port, "/ws/echo") as ws:  # still serving
            await ws.send("still here")
            assert await ws.receive() == "still here"
        assert "Traceback" not in server.output()


async def joined(port: int, room: str, name: str, stack: AsyncExitStack) -> WsClient:
    ws = await stack.enter_async_context(open_ws(port, f"/chat/{room}/{name}"))
    notice = await ws.receive()
    assert isinstance(notice, str)
    assert notice.startswith(f"* {name} joined {room} ("), notice
    return ws


async def test_chat_rooms_fan_out_to_their_own_members_only() -> None:
    """examples.chat: a message reaches its room (sender too), not the others."""
    async with example("chat") as server, AsyncExitStack() as stack:
        page = await fetch(server.port, "/")
        for control in ('id="room"', 'id="name"', 'id="join"', 'id="message"', 'id="send"'):
            assert control in page.text
        assert (await fetch(server.port, "/elsewhere")).status == 404

        alice = await joined(server.port, "A", "alice", stack)
        bob = await joined(server.port, "A", "bob", stack)
        assert await alice.receive() == "* bob joined A (2 here)"
        carol = await joined(server.port, "B", "carol", stack)

        await alice.send("hello A")
        assert await alice.receive() == "alice: hello A"
        assert await bob.receive() == "alice: hello A"
        # Room B's own traffic comes first at carol: room A's message, sent to
        # every member at once before bob got it, never reached her.
        await carol.send("hello B")
        assert await carol.receive() == "carol: hello B"

        await bob.send("bye")
        assert await alice.receive() == "bob: bye"
        assert await bob.receive() == "bob: bye"
        assert await bob.close() == Closed(1000, "")
        assert await alice.receive() == "* bob left A (1 here)"

        await alice.send("anyone?")
        assert await alice.receive() == "alice: anyone?"
        await carol.send("still B")
        assert await carol.receive() == "carol: still B"
        await carol.send(b"binary")
        assert await carol.receive() == "* only text messages are relayed"
        assert "Traceback" not in server.output()


async def test_chat_refuses_bad_paths_and_names() -> None:
    """examples.chat: sockets elsewhere or with bad names are closed with 1008."""
    async with example("chat") as server:
        for path, reason in (
            ("/chat/A", "connect to /chat/ROOM/NAME"),
            ("/chat/A/bob/x", "connect to /chat/ROOM/NAME"),
            ("/other", "connect to /chat/ROOM/NAME"),
            ("/chat/A/b%20b", "room and name: 1 to 32 letters, digits, _ or -"),
            ("/chat/" + "r" * 33 + "/bob", "room and name: 1 to 32 letters, digits, _ or -"),
        ):
            async with open_ws(server.port, path) as ws:
                assert await ws.receive() == Closed(1008, reason), path
