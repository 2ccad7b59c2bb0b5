"""The ASGI `lifespan` scope (asgiref's lifespan spec) in a process linked
to the listener.

The listener starts it before its first accept and waits for
`lifespan.startup.complete` (connections meanwhile wait in the kernel's
backlog); after its drain it sends `lifespan.shutdown` and waits, within
`shutdown_timeout`, for `lifespan.shutdown.complete`. The app's scope runs
in that process, so startup code can start processes (a GenServer, a
supervisor) that live until shutdown, and its `state` is copied into each
request's scope.

`lifespan.startup.failed` ends the server: one log line, and the listener
exits with `STARTUP_FAILED` (the command line then exits with status 1).
An app that raises (or returns) instead does not speak the protocol, says
the spec: with `lifespan="auto"` the server goes on without it (one info
line); with `lifespan="on"` that too is a failed startup.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Final

import trio

import actors

from ._asgi_scope import ASGI_VERSION

if TYPE_CHECKING:
    from ._listener import Server

__all__ = ["STARTUP_FAILED", "Lifespan"]

logger = logging.getLogger("httpserver")

STARTUP_FAILED: Final = ("shutdown", "lifespan startup failed")
"""The listener's exit reason when the app's startup failed: a shutdown, so
no crash report repeats the one line already logged."""

_REPLY: Final = ("$lifespan_reply", actors.ANY, actors.ANY)
_ANSWERS: Final = frozenset(
    {
        "lifespan.startup.complete",
        "lifespan.startup.failed",
        "lifespan.shutdown.complete",
        "lifespan.shutdown.failed",
    }
)


async def _lifespan_main(app: Any, state: dict[str, Any], listener: actors.Pid) -> None:
    """The lifespan process: the app's lifespan scope, its messages through
    the mailbox (a selective receive, so the app's own messages stay)."""

    async def receive() -> dict[str, Any]:
        _, kind = await actors.receive(("$lifespan", actors.ANY))
        return {"type": kind}

    async def send(message: dict[str, Any]) -> None:
        kind = message.get("type")
        if kind not in _ANSWERS:
            raise RuntimeError(f"{kind!r} is no message of the lifespan scope")
        actors.send(listener, ("$lifespan_reply", kind, message.get("message", "")))
        await trio.lowlevel.checkpoint()

    scope = {
        "type": "lifespan",
        "asgi": {"version": ASGI_VERSION, "spec_version": "2.0"},
        "state": state,
    }
    try:
        await app(scope, receive, send)
    except Exception as exc:
        actors.send(listener, ("$lifespan_reply", "$raised", exc))
        return
    actors.send(listener, ("$lifespan_reply", "$returned", ""))


class Lifespan:
    """The listener's side: start the process, ask for startup and shutdown."""

    __slots__ = ("pid", "server", "supported")

    def __init__(self, server: Server) -> None:
        self.server = server
        self.supported = True
        self.pid = actors.spawn_link(_lifespan_main, server.asgi, server.state, actors.self())

    async def startup(self) -> bool:
        """Whether the server may serve. Messages other than the answer
        (a stop, the parent's exit) stay in the listener's mailbox."""
        actors.send(self.pid, ("$lifespan", "lifespan.startup"))
        mode = self.server.options.lifespan
        kind, detail = await self._answer()
        if kind == "lifespan.startup.complete":
            return True
        if kind == "lifespan.startup.failed":
            logger.error("the ASGI app's lifespan startup failed: %s", detail or "(no message)")
            return False
        if kind in ("$raised", "$returned") and mode == "auto":
            self.supported = False
            how = f"it raised {detail!r}" if kind == "$raised" else "it returned"
            logger.info("the ASGI app does not support the lifespan scope (%s); going on", how)
            return True
        if kind == "$raised":
            logger.error("the ASGI app raised during lifespan startup: %r", detail)
        else:
            logger.error("the ASGI app's lifespan ended before startup completed (%s)", kind)
        return False

    async def shutdown(self, grace: float) -> None:
        """After the drain: `lifespan.shutdown`, answered within `grace`."""
        if self.supported and actors.process_info(self.pid) is not None:
            actors.send(self.pid, ("$lifespan", "lifespan.shutdown"))
            with trio.move_on_after(grace) as timer:
                kind, detail = await self._answer()
                if kind == "lifespan.shutdown.failed":
                    logger.error("the ASGI app's lifespan shutdown failed: %s", detail)
                elif kind == "$raised":
                    logger.error("the ASGI app raised during lifespan shutdown: %r", detail)
            if timer.cancelled_caught:
                logger.error("the ASGI app's lifespan shutdown took more than %g s", grace)
        self.abandon()

    def abandon(self) -> None:
        """End the lifespan process without a word (after a failed startup)."""
        actors.unlink(self.pid)
        actors.exit(self.pid, "kill")

    async def _answer(self) -> tuple[Any, Any]:
        pid = self.pid
        match await actors.receive(_REPLY, actors.Exit(pid, actors.ANY)):
            case ("$lifespan_reply", kind, detail):
                return kind, detail
            case actors.Exit(_, reason):
                return f"$exit {reason!r}", reason
        raise AssertionError("unreachable")
