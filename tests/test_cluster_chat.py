"""examples.cluster_chat: three OS processes, three nodes of one cluster, one
room; a message typed on a socket of node a reaches the members on b and c,
over real WebSockets."""

from __future__ import annotations

from contextlib import AsyncExitStack

from tests.http_helpers import example
from tests.ws_helpers import open_ws


async def test_a_room_spans_three_nodes(redis_url: str) -> None:
    """Each node starts once the members before it have joined: a node that
    joins gets the cluster's memberships before it serves, so the counts are
    exact. (Between nodes already up, a join travels in a few ms, as in
    OTP's pg: a count read in that window may miss it.)"""
    cluster = ("--cluster", redis_url, "--cookie", "chat-test")
    async with AsyncExitStack() as stack:

        async def node(name: str) -> int:
            server = await stack.enter_async_context(
                example("cluster_chat", "--node", name, *cluster)
            )
            return int(server.port)

        alice = await stack.enter_async_context(open_ws(await node("a"), "/chat/lobby/alice"))
        assert await alice.receive() == "* alice joined lobby (1 here)"
        port_b = await node("b")
        bob = await stack.enter_async_context(open_ws(port_b, "/chat/lobby/bob"))
        assert await bob.receive() == "* bob joined lobby (2 here)"
        assert await alice.receive() == "* bob joined lobby (2 here)"  # from b to a
        carol = await stack.enter_async_context(open_ws(await node("c"), "/chat/lobby/carol"))
        for ws in (carol, alice, bob):
            assert await ws.receive() == "* carol joined lobby (3 here)"
        other = await stack.enter_async_context(open_ws(port_b, "/chat/other/dave"))
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
