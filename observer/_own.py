"""The observer's own processes are system processes.

The page hides system processes by default and never kills one, so the
observer marks its own (`actors.lowlevel.mark_system`): its server, its
listener and its collector when they start, each connection process when
it serves a request and each page's socket processes when it opens, and,
before each snapshot, every process linked to its listener, and what
those link to (a connection not yet asked anything, a socket's reader,
writer and handler). The walk never passes through the observer's server,
whose links lead to the user's supervisor.
"""

from __future__ import annotations

import actors
import actors.lowlevel

from ._config import Config

__all__ = ["mark_linked", "mark_own"]


def mark_linked() -> None:
    """Mark the caller and the processes linked to it (a socket's handler:
    its reader and writer)."""
    actors.lowlevel.mark_system()
    info = actors.process_info(actors.self())
    for pid in info["links"] if info is not None else ():
        if pid.node == actors.node_name():
            actors.lowlevel.mark_system(pid)


def mark_own(config: Config) -> None:
    """Mark every process of this observer (see the module docstring)."""
    here = actors.node_name()
    seen = set(config.own)
    for pid in config.own:
        actors.lowlevel.mark_system(pid)
    todo = [] if config.listener is None else [config.listener]
    while todo:
        info = actors.process_info(todo.pop())
        for pid in info["links"] if info is not None else ():
            if pid not in seen and pid.node == here:
                seen.add(pid)
                actors.lowlevel.mark_system(pid)
                todo.append(pid)
