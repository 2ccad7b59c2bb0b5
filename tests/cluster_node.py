"""A cluster node in an OS process of its own, for the tests about OS
processes (kill -9, Redis restarts):

    python -m tests.cluster_node NAME REDIS_URL [COOKIE]

Registers "echo" (answers ("ping", sender, x) with ("pong", its pid, x))
and prints "ready" once the node has joined."""

from __future__ import annotations

import sys

import actors
from tests.cluster_helpers import COOKIE, FAST


async def echo() -> None:
    while True:
        match await actors.receive():
            case ("ping", sender, x):
                actors.send(sender, ("pong", actors.self(), x))


async def main() -> None:
    actors.spawn(echo, name="echo")
    print("ready", flush=True)
    await actors.receive("stop")


if __name__ == "__main__":
    name, url = sys.argv[1], sys.argv[2]
    cookie = sys.argv[3] if len(sys.argv) > 3 else COOKIE
    actors.run(main, node=name, cluster=url, cookie=cookie, **FAST)
