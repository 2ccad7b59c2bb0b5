"""Shared helpers for the test suite: the older names of `actors.testing`'s helpers."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from actors.testing import forever as _forever
from actors.testing import wait_exit as wait_down

__all__ = ["forever", "wait_down"]


def forever() -> Callable[[], Awaitable[None]]:
    """A process body that waits for a message it never gets."""
    return _forever
