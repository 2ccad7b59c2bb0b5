"""Nodes of one cluster inside one test: each node runs in its own trio
task, its body a process of that node. `start_node` returns once the node
has joined, so a node started later sees it up at once."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
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
    hidden: bool = False,
) -> None:
    """Run `body(*args)` as the first process of node `name` (a hidden node
    with `hidden=True`); return once the node has joined. The node ends
    when `body` returns."""

    async def run(task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with actors.node(name=name, cluster=url, cookie=cookie, hidden=hidden, **FAST):
            task_status.started()
            await body(*args)

    await nursery.start(run)


ROOT = Path(__file__).resolve().parent.parent


@asynccontextmanager
async def os_program(
    module: str, *args: str, stop: str = "terminate"
) -> AsyncIterator[tuple[trio.Process, bytes]]:
    """Run `python -m tests.MODULE ARGS` in an OS process of its own; yield
    it with the first line it prints (once it is ready); end it after
    (`stop`: "terminate" lets it drain, "kill" does not)."""
    process = await trio.lowlevel.open_process(
        [sys.executable, "-m", f"tests.{module}", *args], cwd=ROOT, stdout=subprocess.PIPE
    )
    try:
        assert process.stdout is not None
        line = b""
        with trio.fail_after(30):
            while not line.endswith(b"\n"):
                chunk = await process.stdout.receive_some(256)
                assert chunk, f"tests.{module} ended before it was ready"
                line += chunk
        yield process, line
    finally:
        if process.returncode is None:
            getattr(process, stop)()
        with trio.CancelScope(shield=True), trio.fail_after(15):
            await process.wait()
