"""Two servers in one node, each registered under its own name
(misultin_multiple_servers_custom_name).

    python -m examples.multiple_servers --port 8080 --port2 8081

The server registered as "misultin1" answers "Hello World from misultin1",
the one registered as "misultin2" answers "Hello World from misultin2".
Each prints its own "NAME listening on http://HOST:PORT/" line (port 0
picks a free one). A registered name stands for the server's Pid, e.g.
`httpserver.port("misultin2")` or `await httpserver.stop("misultin1")`.
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Awaitable, Callable

import actors
import httpserver
from examples._cli import arguments

NAMES = ("misultin1", "misultin2")


def greeter(name: str) -> Callable[[httpserver.Req], Awaitable[None]]:
    """A handler that says which server answered."""

    async def handle_http(req: httpserver.Req) -> None:
        await req.ok(f"Hello World from {name}")

    return handle_http


async def main(args: argparse.Namespace) -> None:
    for name, port in zip(NAMES, (args.port, args.port2), strict=True):
        httpserver.start_link(ip=args.ip, port=port, name=name, loop=greeter(name))
        info = httpserver.info(name)
        print(f"{name} listening on http://{info['ip']}:{info['port']}/", flush=True)
    await actors.receive()  # run until interrupted


if __name__ == "__main__":
    parser = arguments(__doc__)
    parser.add_argument(
        "--port2", type=int, default=8081, help="port of the second server (default 8081)"
    )
    with contextlib.suppress(KeyboardInterrupt):
        actors.run(main, parser.parse_args())
