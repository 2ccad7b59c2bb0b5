"""Hello World from a server without a registered name, stopped by its Pid
(misultin_hello_world_nameless).

    python -m examples.hello_world_nameless --port 8080

misultin needed `{name, false}` to start a server that is not registered
(so that several can run in one node); here a server has no name unless it
is given one (`name=None` is the default, spelled out below). Whoever
started it holds its Pid and stops it with `httpserver.stop(pid)`: on
Ctrl-C (SIGINT) or SIGTERM the example does so and says when it is done.
"""

from __future__ import annotations

import argparse
import signal

import trio

import actors
import httpserver
from examples._cli import arguments, listening


async def handle_http(req: httpserver.Req) -> None:
    await req.ok("Hello World.")


async def main(args: argparse.Namespace) -> None:
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        server = httpserver.start_link(ip=args.ip, port=args.port, name=None, loop=handle_http)
        listening(server)
        async for signum in signals:
            print(f"got {signal.Signals(signum).name}: stopping server {server}", flush=True)
            break
    await httpserver.stop(server)
    print(f"server {server} stopped", flush=True)


if __name__ == "__main__":
    actors.run(main, arguments(__doc__).parse_args())
