"""Nodes of one cluster inside one test: each node runs in its own trio
task, its body a process of that node. `start_node` returns once the node
has joined, so a node started later sees it up at once."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import trio

import actors

COOKIE = "test-cookie"
FAST = {"heartbeat": 0.1, "missed": 3}  # node down 0.3 s after its last beat


async def start_node(
    nursery: trio.Nursery,
    name: str,
    url: str,
    body: Callable[..., Awaitable[Any]],
    *args: Any,
    cookie: str = COOKIE,
) -> None:
    """Run `body(*args)` as the first process of node `name`; return once
    the node has joined. The node ends when `body` returns."""

    async def run(task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with actors.node(name=name, cluster=url, cookie=cookie, **FAST):
            task_status.started()
            await body(*args)

    await nursery.start(run)
