"""The chat example on several nodes of a cluster: a room spans them.

    redis-server --port 6379 --save '' &
    export ACTORS_COOKIE=demo REDIS=redis://127.0.0.1:6379/0
    python -m examples.cluster_chat --node a --port 8081 --cluster $REDIS &
    python -m examples.cluster_chat --node b --port 8082 --cluster $REDIS &
    python -m examples.cluster_chat --node c --port 8083 --cluster $REDIS &
    then open http://localhost:8081/, http://localhost:8082/ and http://localhost:8083/

Each node serves examples.chat's page and handlers unchanged: a room is a
process group, and in a cluster groups span the nodes, so a message typed
on a page served by a reaches the room's members connected to b and c.
`websocket.broadcast` sends it once to each other node with members in
the room, and that node frames it once for its own sockets. The cookie is
the cluster's shared secret (also read from ACTORS_COOKIE): nodes with
another cookie can neither send to these nor read what they send.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys

import actors
import httpserver
from examples._cli import arguments, listening
from examples.chat import handle_http, handle_websocket


async def serve(args: argparse.Namespace) -> None:
    server = httpserver.start_link(
        ip=args.ip, port=args.port, loop=handle_http, ws_loop=handle_websocket, ws_autoexit=False
    )
    print(f"node {actors.node_name()} joined; other nodes up: {actors.nodes()}", flush=True)
    listening(server)
    await actors.receive()  # run until interrupted


def main() -> None:
    parser = arguments(__doc__.split("\n\n")[0])
    parser.add_argument("--node", required=True, help="this node's name, unique in the cluster")
    parser.add_argument("--cluster", required=True, help="Redis URL, e.g. redis://127.0.0.1:6379/0")
    parser.add_argument(
        "--cookie",
        default=os.environ.get("ACTORS_COOKIE"),
        help="the cluster's shared secret (default: $ACTORS_COOKIE)",
    )
    args = parser.parse_args()
    if not args.cookie:
        sys.exit("cluster_chat: give the cluster's secret with --cookie or ACTORS_COOKIE")
    with contextlib.suppress(KeyboardInterrupt):
        actors.run(serve, args, node=args.node, cluster=args.cluster, cookie=args.cookie)


if __name__ == "__main__":
    main()
