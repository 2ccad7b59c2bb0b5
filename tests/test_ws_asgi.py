"""The ASGI `websocket` scope, served by the websocket package with ws_loop's
reader, writer, limits and close codes; on both protocol layers."""

from __future__ import annotations

import logging
from typing import Any

import pytest
import trio
from wsproto.events import AcceptConnection

import actors
from actors.testing import assert_receive
from tests import asgi_apps
from tests.http_helpers import http_server
from tests.ws_helpers import Closed, Refused, client_frame, handshake, open_ws, protocol
from tests.ws_helpers import ws_protocol as ws_protocol

pytestmark = pytest.mark.usefixtures("ws_protocol")


def asgi_server(**options: Any) -> Any:
    options.setdefault("asgi", asgi_apps.ws_app)
    options.setdefault("ws", protocol())
    return http_server(**options)


async def test_an_accepted_socket_echoes_text_and_bytes_and_closes_with_the_app_s_code() -> None:
    async with actors.node(), asgi_server() as port, open_ws(port, "/") as ws:
        assert (b"x-accepted", b"yes") in ws.accepted.extra_headers
        await ws.send("hello")
        assert await ws.receive() == "hello"
        await ws.send(b"\x00\x01")
        assert await ws.receive() == b"\x00\x01"
        await ws.send("bye")
        assert await ws.receive() == Closed(4001, "bye")


async def test_a_close_before_the_accept_is_a_403() -> None:
    async with actors.node(), asgi_server() as port:
        with trio.fail_after(10):
            stream, _, answer = await handshake(port, "/refuse")
        await stream.aclose()
    assert isinstance(answer, Refused)
    assert answer.status == 403


async def test_the_app_chooses_the_subprotocol_among_those_offered() -> None:
    async with actors.node(), asgi_server() as port:
        with trio.fail_after(10):
            stream, _, answer = await handshake(port, "/proto", subprotocols=["chat", "superchat"])
        await stream.aclose()
    assert isinstance(answer, AcceptConnection)
    assert answer.subprotocol == "superchat"


async def test_the_client_s_close_code_reaches_the_app_as_websocket_disconnect() -> None:
    async with actors.node():
        actors.register("watcher", actors.self())
        async with asgi_server() as port, open_ws(port, "/") as ws:
            assert (await ws.close(4321, "done")).code == 4321  # echoed, as RFC 6455 5.5.1 says
            assert await assert_receive(("disconnect", actors.ANY), timeout=10) == (
                "disconnect",
                4321,
            )


async def test_a_message_over_ws_max_message_is_1009_for_the_client_and_the_app() -> None:
    async with actors.node():
        actors.register("watcher", actors.self())
        async with asgi_server(ws_max_message=1000) as port, open_ws(port, "/") as ws:
            await ws.send_raw(client_frame(0x2, b"x" * 1001))
            closed = await ws.receive()
            assert isinstance(closed, Closed)
            assert closed.code == 1009
            assert await assert_receive(("disconnect", actors.ANY), timeout=10) == (
                "disconnect",
                1009,
            )


async def test_an_app_that_raises_after_accepting_closes_with_1011_and_one_log_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    async with actors.node(), asgi_server() as port, open_ws(port, "/crash") as ws:
        closed = await ws.receive()
    assert isinstance(closed, Closed)
    assert closed.code == 1011
    records = [r for r in caplog.records if "ASGI app raised" in r.message]
    assert len(records) == 1
    assert "ValueError" in records[0].message
    assert not [r for r in caplog.records if r.name == "actors"]  # no crash report
