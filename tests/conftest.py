"""Shared helpers for the test suite."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import actors


async def wait_down(pid: actors.Pid, timeout: float = 5.0) -> Any:
    """Monitor `pid` and return the reason it ended with."""
    ref = actors.monitor(pid)
    down = await actors.receive(actors.Down(ref, pid, actors.ANY), timeout=timeout)
    return down.reason


def forever() -> Callable[[], Awaitable[None]]:
    """A process body that waits for a message it never gets."""

    async def body() -> None:
        await actors.receive("never sent")

    return body
