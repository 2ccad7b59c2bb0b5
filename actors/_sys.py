"""OTP's sys, for the core: what a behaviour's process tells introspection
about itself, so that the core knows no behaviour.

A behaviour's process registers a view of itself (`set_view`): its kind
("gen_server", "gen_statem", "supervisor"), the function to show for it
(its class), and for a supervisor its tree. `get_state` is a call whose
request is `GET_STATE`, a system message each behaviour's loop answers
between two callbacks, as OTP's `sys:get_state` is: no callback runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final, Protocol

from ._call import Marker
from ._wire import register_tag

if TYPE_CHECKING:
    from ._process import Process

__all__ = ["GET_STATE", "ServerView", "View", "set_view", "view_of"]

GET_STATE: Final = Marker("$get_state")
register_tag("sys.get_state", GET_STATE)


class View(Protocol):
    """What introspection asks of a behaviour's process."""

    kind: str

    def function(self) -> str:
        """ "module.Class": what the process table shows it running."""

    def tree(self) -> dict[str, Any] | None:
        """A supervisor's "strategy", "intensity", "period", "restarts" (made
        in all), "recent" (within its period) and "children" rows ({"id",
        "pid", "type", "restart", "restarts", "last_exit"}); None for any
        other kind."""


class ServerView:
    """The view of a server process whose state lives in `server`."""

    __slots__ = ("kind", "server")

    def __init__(self, server: object, kind: str) -> None:
        self.server = server
        self.kind = kind

    def function(self) -> str:
        cls = type(self.server)
        return f"{cls.__module__}.{cls.__qualname__}"

    def tree(self) -> dict[str, Any] | None:
        return None


def set_view(proc: Process, view: View) -> None:
    """`proc` is a behaviour's process: this is how it shows."""
    proc.node.observed.servers[proc] = view


def view_of(proc: Process) -> View | None:
    found: View | None = proc.node.observed.servers.get(proc)
    return found
