"""File descriptors: raise the soft limit at start, and fit max_connections to it.

A connection holds one fd, two while it sends a file, and the soft
RLIMIT_NOFILE is often 1024 while the hard one is far higher. So the server
raises its soft limit to the hard one when it starts (as nginx's
worker_rlimit_nofile, or a systemd unit's LimitNOFILE, would), and caps the
connections it serves at half the limit less a reserve for listeners, logs
and the interpreter: past that, accept would fail with EMFILE, or a file
response could not open its file.
"""

from __future__ import annotations

import logging
import resource
from typing import Final

__all__ = ["RESERVE", "connection_cap", "raise_fd_limit"]

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


def connection_cap(max_connections: int, fd_limit: int | None) -> int:
    """The connections a server serves: max_connections, or fewer if the
    fd limit could not hold two fds for each beside the reserve."""
    if fd_limit is None:
        return max_connections
    fitting = max(1, (fd_limit - RESERVE) // 2)
    if fitting < max_connections:
        logger.warning(
            "max_connections=%d: the fd limit of %d holds two fds per connection for %d"
            " (%d kept for the rest); serving %d at most",
            max_connections,
            fd_limit,
            fitting,
            RESERVE,
            fitting,
        )
        return fitting
    return max_connections
