"""SIGTERM ends `actors.run` as Ctrl-C does: the node shuts down, one line.

A deploy (systemd, Kubernetes, a process supervisor) stops a program with
SIGTERM. Left to its default action the signal ends the OS process at
once: no process unwinds, no `finally` runs, a cluster node never says it
leaves, and the program exits with status 143 without a word. `run`
(the main thread's, when the program has not set a SIGTERM handler of its
own) catches it instead and ends the node as Ctrl-C does: every process is
cancelled and unwinds, a cluster node leaves, and the log says
`stopped: terminated (SIGTERM)`. Then the program exits with status 0, as
a server that drained on SIGTERM does (a service manager reads 143 as a
failure).

A layer above that drains on SIGTERM (httpserver's signal guard) may take
the signal over from this handler as it would from the default one:
`is_run_handler` tells it apart from a program's own.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Awaitable, Callable
from types import FrameType
from typing import Any, TypeVar

import trio

from . import _node

__all__ = ["Terminated", "is_run_handler", "run"]

T = TypeVar("T")

logger = logging.getLogger("actors")

# (token, scope, hit) of the run in progress on the main thread
_active: list[tuple[trio.lowlevel.TrioToken, trio.CancelScope, list[bool]]] = []
_early: list[bool] = []  # SIGTERM came before the first process began (a cluster join)


class Terminated(SystemExit):
    """SIGTERM ended `actors.run` (the node shut down, as on Ctrl-C): a
    SystemExit with status 0, so that, uncaught, the program ends cleanly
    without a traceback; `run` has already said so in one line."""

    def __init__(self) -> None:
        super().__init__(0)


class _SigTerm(BaseException):
    """Raised out of the node's first process when SIGTERM ended it."""


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    """The SIGTERM handler of `run`: end the first process, from trio."""
    if not _active:
        _early.append(True)
        return
    token, scope, hit = _active[-1]

    def stop() -> None:
        hit.append(True)
        scope.cancel()

    token.run_sync_soon(stop)


def is_run_handler(handler: Any) -> bool:
    """Whether `handler` (what `signal.getsignal` returned) is the SIGTERM
    handler `actors.run` installs: a layer that drains on SIGTERM may take
    the signal over from it, as from the default."""
    return handler is _on_sigterm


async def _until_sigterm(fn: Callable[..., Awaitable[T]], args: tuple[Any, ...]) -> T:
    scope = trio.CancelScope()
    hit: list[bool] = []
    entry = (trio.lowlevel.current_trio_token(), scope, hit)
    _active.append(entry)
    if _early:
        hit.append(True)
        scope.cancel()
    try:
        with scope:
            result = await fn(*args)
            if not hit:
                return result
    finally:
        _active.remove(entry)
    raise _SigTerm


def run(
    fn: Callable[..., Awaitable[T]],
    *args: Any,
    node: str | None = None,
    cluster: str | None = None,
    cookie: str | bytes | None = None,
    **cluster_options: Any,
) -> T:
    """Run `fn(*args)` as the first process of a new node, like `trio.run`;
    with `cluster=URL` the node joins that cluster (see `node()`).

    If the program has not configured logging, the reports of `actors`
    (and of the layers above) get a handler with time, level and logger
    name first. Ctrl-C ends it with one line on the log and `Interrupted`,
    a KeyboardInterrupt that, uncaught, exits with status 130 and no
    traceback; SIGTERM ends the node the same way, with one line and
    `Terminated`, a SystemExit with status 0."""
    options: dict[str, Any] = {"node": node, "cluster": cluster, "cookie": cookie}
    main = threading.current_thread() is threading.main_thread()
    if not main or signal.getsignal(signal.SIGTERM) not in (signal.SIG_DFL, None):
        return _node.run_node(fn, *args, **options, **cluster_options)  # SIGTERM is not ours
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    _early.clear()
    try:
        result: T = _node.run_node(_until_sigterm, fn, args, **options, **cluster_options)
    except _SigTerm:
        logger.warning("stopped: terminated (SIGTERM)")
        raise Terminated from None
    finally:
        signal.signal(signal.SIGTERM, previous)
    return result
