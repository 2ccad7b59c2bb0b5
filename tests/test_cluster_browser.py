"""examples.cluster_chat in a real browser: two headless Chromiums, each on
the page of a different node, in one room; what one types, the other sees."""

from __future__ import annotations

from contextlib import AsyncExitStack

import trio

from tests.http_helpers import example
from tests.webdriver import Chromium, headless, needs_browser

pytestmark = needs_browser


def join(page: Chromium, url: str, name: str, here: int) -> None:
    page.open(url)
    page.type_into("#room", "lobby")
    page.type_into("#name", name)
    page.click("#join")
    page.wait_for_text("#log", f"* {name} joined lobby ({here} here)")


def say(page: Chromium, text: str) -> None:
    page.type_into("#message", text)
    page.click("#send")


async def test_two_pages_on_two_nodes_share_a_room(redis_url: str) -> None:
    cluster = ("--cluster", redis_url, "--cookie", "browser-test")
    run = trio.to_thread.run_sync
    with trio.fail_after(90):
        async with AsyncExitStack() as stack:
            node_a = await stack.enter_async_context(
                example("cluster_chat", "--node", "a", *cluster)
            )
            first = stack.enter_context(headless())
            await run(join, first, f"http://localhost:{node_a.port}/", "alice", 1)
            node_b = await stack.enter_async_context(
                example("cluster_chat", "--node", "b", *cluster)
            )
            second = stack.enter_context(headless())
            await run(join, second, f"http://localhost:{node_b.port}/", "bob", 2)
            await run(first.wait_for_text, "#log", "* bob joined lobby (2 here)")
            await run(say, first, "hello from node a")
            await run(second.wait_for_text, "#log", "alice: hello from node a")
            await run(say, second, "and back from b")
            await run(first.wait_for_text, "#log", "bob: and back from b")
