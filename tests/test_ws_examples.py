"""The WebSocket examples, started as programs and checked over real sockets."""

from __future__ import annotations

from tests.http_helpers import example, fetch
from tests.ws_helpers import Closed, open_ws


async def test_websocket_example_page_echo_and_push() -> None:
    """examples.websocket_example: the page, the answers, and "pushing!"."""
    async with example("websocket_example") as server:
        page = await fetch(server.port, "/")
        assert page.status == 200
        assert f'new WebSocket("ws://localhost:{server.port}/service")' in page.text
        assert 'ws.send("hello server!")' in page.text
        async with open_ws(server.port, "/service") as ws:
            await ws.send("hello server!")
            assert await ws.receive() == "received 'hello server!'"
            await ws.send("second")
            assert await ws.receive() == "received 'second'"
            assert await ws.receive(timeout=8) == "pushing!"
            assert await ws.close() == Closed(1000, "")
