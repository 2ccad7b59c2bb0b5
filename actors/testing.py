"""Helpers for testing code built on processes, as `trio.testing` is for trio.

In the spirit of ExUnit's `assert_receive`: a test that waits for a message
should fail with an `AssertionError` that says what came instead, not hang
or raise a bare `ReceiveTimeout`. Every helper runs in the calling process
(the test itself, inside `async with actors.node():`), and each one is a
checkpoint, like every async function of `actors`.

    async def test_echo():
        async with actors.node():
            pid = actors.spawn(echo)
            actors.send(pid, ("ping", actors.self()))
            await assert_receive("pong")
            await refute_receive("pong")  # one answer, not two
            actors.send(pid, "stop")
            assert await wait_exit(pid) == "normal"
"""

from __future__ import annotations

from typing import Any

import trio

from ._api import demonitor, monitor
from ._errors import ReceiveTimeout
from ._ids import Down, Pid
from ._patterns import ANY
from ._process import current, receive

__all__ = ["assert_receive", "drain", "forever", "refute_receive", "wait_exit", "wait_node"]

_SHOWN = 10
"""How many queued messages a failure message lists at most."""


async def assert_receive(*patterns: object, timeout: float = 1.0) -> Any:
    """Take and return the oldest message matching any of `patterns` (any
    message, if none), waiting up to `timeout` seconds for it.

    Raises `AssertionError` if none comes, listing what the mailbox holds:
    usually the message the test expected in a shape it did not expect.
    """
    current("actors.testing.assert_receive")  # outside a process: name this call
    try:
        return await receive(*patterns, timeout=timeout)
    except ReceiveTimeout:
        wanted = _describe(patterns)
        held = _mailbox("actors.testing.assert_receive")
        raise AssertionError(f"no message matching {wanted} within {timeout} s; {held}") from None


async def refute_receive(*patterns: object, timeout: float = 0.1) -> None:
    """Fail if a message matching any of `patterns` (any message, if none)
    is in the mailbox or arrives within `timeout` seconds (0 only looks).

    A matching message is taken out of the mailbox and shown in the
    `AssertionError`; others stay queued, in order.
    """
    current("actors.testing.refute_receive")  # outside a process: name this call
    try:
        msg = await receive(*patterns, timeout=timeout)
    except ReceiveTimeout:
        return
    wanted = _describe(patterns)
    raise AssertionError(f"got {msg!r}, which matches {wanted}, within {timeout} s")


async def wait_exit(pid: Pid | object, timeout: float = 5.0) -> Any:
    """Wait until `pid` (or the process registered under that name) ends,
    and return its exit reason; "noproc" if it is not alive.

    Monitors it meanwhile; raises `AssertionError` if it is still alive
    after `timeout` seconds, and leaves no monitor and no `Down` behind.
    """
    current("actors.testing.wait_exit")  # outside a process: name this call
    ref = monitor(pid)
    try:
        down: Down = await receive(Down(ref, ANY, ANY), timeout=timeout)
    except ReceiveTimeout:
        demonitor(ref, flush=True)
        raise AssertionError(f"{pid!r} is still alive after {timeout} s") from None
    return down.reason


async def wait_node(name: str, timeout: float = 10.0) -> None:
    """Wait until this node sees node `name` of its cluster up; raises
    `AssertionError` after `timeout` seconds."""
    node = current("actors.testing.wait_node").node
    cluster = node.cluster
    if cluster is None:
        raise AssertionError("wait_node needs a node in a cluster")
    peer = cluster.peers.get(name)
    if peer is not None and peer.up:
        return
    event = trio.Event()
    cluster.up_waiters.setdefault(name, []).append(event)
    with trio.move_on_after(timeout):
        await event.wait()
        return
    raise AssertionError(f"node {name!r} is not up after {timeout} s; up: {cluster.up_nodes()}")


async def drain(*patterns: object) -> list[Any]:
    """Take every queued message matching any of `patterns` (every message,
    if none), oldest first, without waiting; the others stay, in order."""
    current("actors.testing.drain")  # outside a process: name this call
    taken = []
    while True:
        try:
            taken.append(await receive(*patterns, timeout=0))
        except ReceiveTimeout:
            return taken


async def forever() -> None:
    """A process body that waits in `receive` for a message that never
    comes: for a process that only has to be alive, to be linked to,
    monitored, sent to or killed. Its mailbox keeps what it is sent."""
    current("actors.testing.forever")  # outside a process: name this call
    await receive(_never)


def _never(_msg: object) -> bool:
    return False


def _describe(patterns: tuple[object, ...]) -> str:
    if not patterns:
        return "anything"
    return " or ".join(repr(pattern) for pattern in patterns)


def _mailbox(what: str) -> str:
    """The calling process's queued messages, oldest first, for a failure."""
    queue = list(current(what)._queue or ())
    if not queue:
        return "the mailbox is empty"
    lines = [f"the mailbox holds {len(queue)} message{'s' if len(queue) != 1 else ''}:"]
    lines += [f"  {msg!r}" for msg in queue[:_SHOWN]]
    if len(queue) > _SHOWN:
        lines.append(f"  ... and {len(queue) - _SHOWN} more")
    return "\n".join(lines)
