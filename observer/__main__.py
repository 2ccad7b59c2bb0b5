"""`python -m observer`: the observer page, for this node or a cluster.

    python -m observer --port 8090
    python -m observer --cluster redis://127.0.0.1:6379/0 --cookie SECRET [--port 8090]

With `--cluster`, the observer joins the cluster as a hidden node (the other
nodes do not list it, nor choose it for anything) and shows every visible
node, as Erlang's observer attached to a remote node. The cookie may also
come from the environment variable OBSERVER_COOKIE (a command line is
visible to every user of the machine). Without `--cluster` it shows its own
node. It prints the page's URL and the kill token, then runs until Ctrl-C
or SIGTERM.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
from typing import Any

import actors

from . import start_link


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m observer", description="A live page of the nodes, trees and processes."
    )
    parser.add_argument("--port", type=int, default=8090, help="port (default 8090; 0 picks one)")
    parser.add_argument("--ip", default="127.0.0.1", help="address (default 127.0.0.1)")
    parser.add_argument("--cluster", metavar="URL", help="a cluster's Redis URL: attach to it")
    parser.add_argument("--cookie", help="the cluster's cookie (or OBSERVER_COOKIE)")
    parser.add_argument("--node", help="this observer's node name (default observer-HOST-PID)")
    parser.add_argument("--token", help="the kill token (default: a random one, printed)")
    parser.add_argument(
        "--show-state", action="store_true", help="show message contents and servers' states"
    )
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between updates")
    return parser


async def serve(args: argparse.Namespace) -> None:
    await start_link(
        port=args.port,
        ip=args.ip,
        show_state=args.show_state,
        token=args.token,
        interval=args.interval,
        handle_signals=True,
    )
    await actors.receive()  # run until interrupted


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    cluster: dict[str, Any] = {}
    if args.cluster is None:
        if args.cookie is not None or args.node is not None:
            sys.exit("--cookie and --node need --cluster")
    else:
        cookie = args.cookie or os.environ.get("OBSERVER_COOKIE")
        if not cookie:
            sys.exit("--cluster needs the cluster's cookie: --cookie or OBSERVER_COOKIE")
        node = args.node or f"observer-{socket.gethostname()}-{os.getpid()}"
        cluster = {"node": node, "cluster": args.cluster, "cookie": cookie, "hidden": True}
    try:
        actors.run(serve, args, **cluster)
    except KeyboardInterrupt:
        pass
    except (actors.StartError, actors.ClusterError, ValueError) as exc:
        sys.exit(f"observer: {exc}")


if __name__ == "__main__":
    main()
