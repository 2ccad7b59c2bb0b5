"""Erlang's observer for trio-misultin: a live page of the whole system.

    import actors, observer

    async def main():
        await observer.start_link(port=8090)   # prints its URL and kill token
        ...

The page (served by our httpserver, updated over one of our WebSockets
about once a second, and at once on a crash or a restart) shows the nodes
of the cluster, the supervision trees, a sortable process table, each
process's details, and the open WebSockets. A kill button needs the token
printed at start (`info(pid)["token"]`); without it the page is read-only.
Message contents and servers' states are shown only with `show_state=True`.

`python -m observer --cluster URL --cookie C` attaches to a running cluster
as a hidden node, as Erlang's observer attaches to a remote node.
"""

import actors.lowlevel

from ._observer import info as info
from ._observer import start as start
from ._observer import start_link as start_link

actors.lowlevel.add_logger("observer")  # formatted as actors' own under actors.run

__all__ = ["info", "start", "start_link"]
