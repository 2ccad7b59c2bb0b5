"""Every HTTP example of examples/ started as a program and checked over real
sockets: each answers the requests its misultin twin answers, the same way."""

from __future__ import annotations

from tests.http_helpers import example, fetch


async def test_hello_world_answers_every_request() -> None:
    async with example("hello_world") as server:
        for path in ("/", "/anything?x=1"):
            response = await fetch(server.port, path)
            assert response.status == 200
            assert response.body == b"Hello World."
