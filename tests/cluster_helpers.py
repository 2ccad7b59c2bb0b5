"""Nodes of one cluster inside one test: each node runs in its own trio
task, its body a process of that node. `start_node` returns once the node
has joined, so a node started later sees it up at once."""

from __future__ import annotations

import contextlib
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


class Agent:
    """A `tests.cluster_agent` node in an OS process of its own: the lines
    it printed, and a way to ask it to do things (from a process of a node
    of the same cluster)."""

    def __init__(self, name: str, process: trio.Process) -> None:
        self.name = name
        self.process = process
        self.lines: list[str] = []
        self._changed = trio.Event()
        self._tags = 0

    async def _read(self) -> None:
        assert self.process.stdout is not None
        pending = b""
        while True:
            chunk = await self.process.stdout.receive_some(4096)
            if not chunk:
                self._changed.set()
                return
            pending += chunk
            *done, pending = pending.split(b"\n")
            if done:
                self.lines.extend(line.decode() for line in done)
                self._changed.set()
                self._changed = trio.Event()

    async def wait_line(self, prefix: str, timeout: float = 10, after: int = 0) -> str:
        """The first line (from index `after`) that starts with `prefix`."""
        with trio.fail_after(timeout):
            while True:
                for line in self.lines[after:]:
                    if line.startswith(prefix):
                        return line
                if self.process.returncode is not None and self.process.stdout is None:
                    raise AssertionError(f"{self.name} ended; it printed {self.lines}")
                await self._changed.wait()

    async def ask(self, op: str, *args: Any, timeout: float = 10) -> Any:
        """Have its "agent" do `op` (see tests/cluster_agent.py); its answer."""
        return await self.answer(self.start(op, *args), timeout)

    def start(self, op: str, *args: Any) -> object:
        """Have its "agent" start `op`; the tag of its answer to come."""
        self._tags += 1
        tag = (self.name, self._tags)
        actors.send(("agent", self.name), ("do", actors.self(), tag, op, *args))
        return tag

    async def answer(self, tag: object, timeout: float = 10) -> Any:
        _, _, result = await actors.receive(("done", tag, actors.ANY), timeout=timeout)
        return result

    def signal(self, signum: int) -> None:
        import os

        os.kill(self.process.pid, signum)


@asynccontextmanager
async def agent_node(
    name: str, url: str, *options: str, ready: bool = True, env: dict[str, str] | None = None
) -> AsyncIterator[Agent]:
    """Run `tests.cluster_agent NAME URL OPTIONS` in an OS process of its
    own; yield once it printed "ready" (or, with `ready=False`, at once);
    kill it after (SIGKILL, SIGCONT first in case a test stopped it)."""
    import os
    import signal

    process = await trio.lowlevel.open_process(
        [sys.executable, "-m", "tests.cluster_agent", name, url, *options],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        env={**os.environ, **(env or {})},
    )
    agent = Agent(name, process)
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(agent._read)
            if ready:
                line = await agent.wait_line("", timeout=30)
                assert line == "ready", f"{name} did not start: {agent.lines}"
            yield agent
            nursery.cancel_scope.cancel()
    finally:
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(process.pid, signal.SIGCONT)
                process.kill()
        with trio.CancelScope(shield=True), trio.fail_after(15):
            await process.wait()
