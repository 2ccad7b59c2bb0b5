"""examples.cluster_chat: three OS processes, three nodes of one cluster, one
room; a message typed on a socket of node a reaches the members on b and c,
over real WebSockets."""

from __future__ import annotations

from contextlib import AsyncExitStack

from tests.http_helpers import example
from tests.ws_helpers import open_ws


async def test_a_room_spans_three_nodes(redis_url: str) -> None:
    cluster = ("--cluster", redis_url, "--cookie", "chat-test")
    async with AsyncExitStack() as stack:
        nodes = {}
        for name in "abc":  # in turn: each joins seeing the ones before it
            nodes[name] = await stack.enter_async_context(
                example("cluster_chat", "--node", name, *cluster)
            )
        alice = await stack.enter_async_context(open_ws(nodes["a"].port, "/chat/lobby/alice"))
        assert await alice.receive() == "* alice joined lobby (1 here)"
        bob = await stack.enter_async_context(open_ws(nodes["b"].port, "/chat/lobby/bob"))
        assert await bob.receive() == "* bob joined lobby (2 here)"
        assert await alice.receive() == "* bob joined lobby (2 here)"  # from b to a
        carol = await stack.enter_async_context(open_ws(nodes["c"].port, "/chat/lobby/carol"))
        for ws in (carol, alice, bob):
            assert await ws.receive() == "* carol joined lobby (3 here)"
        other = await stack.enter_async_context(open_ws(nodes["b"].port, "/chat/other/dave"))
        assert await other.receive() == "* dave joined other (1 here)"
        await alice.send("hello from a")
        for ws in (alice, bob, carol):
            assert await ws.receive() == "alice: hello from a"
        await carol.send("and from c")
        for ws in (alice, bob, carol):
            assert await ws.receive() == "carol: and from c"
        await bob.close()
        for ws in (alice, carol):
            assert await ws.receive() == "* bob left lobby (2 here)"
        # dave, in another room on b, got none of it
        await other.send("anyone?")
        assert await other.receive() == "dave: anyone?"
