"""workers=2 in a cluster: each worker is a node of it, so a room spans the
workers (without a cluster, a room is split between them)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

from tests.cluster_helpers import os_program
from tests.http_helpers import fetch
from tests.ws_helpers import open_ws


@asynccontextmanager
async def app(module: str, redis_url: str) -> AsyncIterator[int]:
    """Run tests.MODULE (a server with workers=2 in a cluster); its port."""
    async with os_program(module, redis_url) as (_, line):
        yield json.loads(line)["port"]


async def test_a_session_follows_its_client_from_worker_to_worker(redis_url: str) -> None:
    async with app("worker_session_app", redis_url) as port:
        first = await fetch(port)
        cookie = first.header("set-cookie")
        assert cookie is not None
        session = cookie.split(";")[0]
        nodes = {first.text.split()[0]}
        count = 1
        assert first.text.split()[1] == "1"
        while len(nodes) < 2 and count < 64:  # new connections: the kernel spreads them
            answer = await fetch(port, headers=[("Cookie", session)])
            node, seen = answer.text.split()
            count += 1
            assert int(seen) == count, answer.text  # one session, whichever worker
            nodes.add(node)
        assert len(nodes) >= 2, "every connection landed on one worker"


async def test_a_room_spans_the_workers_of_a_server_in_a_cluster(redis_url: str) -> None:
    async with app("worker_chat_app", redis_url) as port, AsyncExitStack() as stack:
        first = await stack.enter_async_context(open_ws(port, "/"))
        here = str(await first.receive()).removeprefix("node ")
        assert await first.receive() == f"joined {here}"
        for _ in range(64):  # the kernel spreads connections over the workers
            ws = await stack.enter_async_context(open_ws(port, "/"))
            there = str(await ws.receive()).removeprefix("node ")
            assert await ws.receive() == f"joined {there}"
            if there != here:
                break
        assert there != here, "every connection landed on one worker"
        # Each socket hears "node NAME" once every node knows it joined
        # (actors.lowlevel.sync_cluster), so `ws`'s node sent its
        # announcement to `first`'s node too.
        while (got := await first.receive()) != f"joined {there}":
            assert str(got).startswith("joined "), got
        await first.send("hello")
        assert await ws.receive() == f"{here}: hello"
        assert await first.receive() == f"{here}: hello"
