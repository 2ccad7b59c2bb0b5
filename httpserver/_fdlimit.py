"""File descriptors: raise the soft limit at start, and fit the connections to it.

A connection still speaking HTTP holds one fd, two while it sends a file
or spools a body to disk; one switched to another protocol (a WebSocket)
holds one for good. The soft RLIMIT_NOFILE is often 1024 while the hard one
is far higher. So the server raises its soft limit to the hard one when it
starts (as nginx's worker_rlimit_nofile, or a systemd unit's LimitNOFILE,
would), and keeps the fds its connections may need within the limit less a
reserve for listeners, logs and the interpreter, counting two for each
HTTP connection and one for each switched one: past that, a new connection
gets 503, where accept would otherwise fail with EMFILE, or a file response
could not open its file.
"""

from __future__ import annotations

import logging
import resource
from typing import Final

__all__ = ["RESERVE", "connection_cap", "fd_room", "raise_fd_limit"]

logger = logging.getLogger("httpserver")

RESERVE: Final = 64  # fds kept for everything but connections


def raise_fd_limit() -> int | None:
    """Raise the soft RLIMIT_NOFILE to the hard limit; return the soft
    limit in force after (None for "unlimited")."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError) as exc:  # e.g. a hard limit of "unlimited"
            logger.debug("could not raise RLIMIT_NOFILE from %d to %d: %s", soft, hard, exc)
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return None if soft == resource.RLIM_INFINITY else soft


def fd_room(fd_limit: int | None) -> int | None:
    """The fds a server's connections may hold: the limit less the reserve
    (None: no limit)."""
    return None if fd_limit is None else max(2, fd_limit - RESERVE)


def connection_cap(max_connections: int, fd_limit: int | None) -> int:
    """The connections a server serves at once: max_connections, or fewer
    if the fd limit cannot hold one fd each beside the reserve. (How many
    of them may still speak HTTP, at two fds each, the server counts as
    they come: `Server.overloaded`.)"""
    room = fd_room(fd_limit)
    if room is None:
        return max_connections
    if room // 2 < max_connections:
        logger.warning(
            "max_connections=%d: the fd limit of %d (%d kept for the rest) holds %d"
            " connections speaking HTTP (two fds each, for a file or a body on disk),"
            " or up to %d switched to a WebSocket (one each); a new one past that gets 503",
            max_connections,
            fd_limit,
            RESERVE,
            room // 2,
            min(max_connections, room),
        )
    return min(max_connections, room)
