"""Erlang's observer for trio-misultin: a live page of the whole system.

    import actors, observer

    async def main():
        await observer.start_link(port=8090)   # prints its URL and kill token
        ...

The page (served by our httpserver, updated over one of our WebSockets
about once a second, and at once on a crash or a restart) shows the nodes
of the cluster, the supervision trees, a sortable process table, each
process's details, and the open WebSockets. A kill button needs the token
printed at start (`info(pid)["token"]`); without it the page is read-only,
and no system process (the node's, the observer's own) is ever killed.
Message contents and servers' states are shown only with `show_state=True`,
and a partial or a child spec even then only by its function's name. On an
address other than loopback it needs `token=` and `allowed_hosts=`.

`python -m observer` attaches to a running cluster (TRIO_MISULTIN_CLUSTER,
TRIO_MISULTIN_COOKIE; its token from OBSERVER_TOKEN or --token-file) as a
hidden node, as Erlang's observer attaches to a remote node.
"""

import actors.lowlevel
import httpserver.lowlevel

# The page runs on our websocket package: if another distribution's module
# took its import name (websocket-client's), say so here, in one line.
if (_clash := httpserver.lowlevel.shadowed()) is not None:
    raise httpserver.lowlevel.ShadowedError(_clash)

from ._observer import info as info
from ._observer import start as start
from ._observer import start_link as start_link

actors.lowlevel.add_logger("observer")  # formatted as actors' own under actors.run

__all__ = ["info", "start", "start_link"]
