"""A cluster node in an OS process of its own, that the fault tests drive:

    python -m tests.cluster_agent NAME REDIS_URL [OPTION=VALUE ...]

OPTION=VALUE are cluster options (heartbeat=0.1, missed=3, stream_maxlen=5,
...); the cookie comes from TRIO_MISULTIN_COOKIE or is the tests' cookie.
It prints "ready" once joined, then one line per event its processes see,
so a test knows what this node saw even while it was cut off:

    exit NODE/NUMBER REASON       the watcher got an exit signal
    down NODE/NUMBER REASON       a monitor of the watcher fired
    nodedown NODE                 monitor_node fired
    conflict NAME NODE/NUMBER     a global name went to that process

Registered processes: "echo" (("ping", sender, x) -> ("pong", its pid, x)),
"sink" (keeps each ("n", i); ("report", pid) -> ("got", list); answers
pings), "watcher"
(traps exits; links and monitors what it is told; answers pings as echo
does) and "agent", which does
("do", reply_to, tag, op, *args) and answers ("done", tag, result):
link PID | monitor PID | monitor_node NAME | register_global NAME |
whereis_global NAME | join GROUP | members GROUP | stop.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import actors
from actors import Down, Exit, NodeDown
from tests.cluster_helpers import COOKIE


def show(pid: Any) -> str:
    return f"{pid.node}/{pid._number}" if isinstance(pid, actors.Pid) else repr(pid)


def say(*words: Any) -> None:
    print(*words, flush=True)


async def echo() -> None:
    while True:
        match await actors.receive():
            case ("ping", sender, x):
                actors.send(sender, ("pong", actors.self(), x))


async def sink() -> None:
    actors.trap_exits()  # a link's noconnection is news, not its end
    got: list[Any] = []
    while True:
        match await actors.receive():
            case ("n", i):
                got.append(i)
            case ("report", pid):
                actors.send(pid, ("got", got))
            case ("ping", sender, x):
                actors.send(sender, ("pong", actors.self(), x))


async def watcher() -> None:
    actors.trap_exits()
    while True:
        match await actors.receive():
            case Exit(pid, reason):
                say("exit", show(pid), reason)
            case Down(_, pid, reason):
                say("down", show(pid), reason)
            case NodeDown(node):
                say("nodedown", node)
            case ("ping", sender, x):
                actors.send(sender, ("pong", actors.self(), x))
            case ("link", pid):
                actors.link(pid)
            case ("monitor", pid):
                actors.monitor(pid)
            case ("monitor_node", name):
                actors.monitor_node(name)


async def holder(name: object, reply_to: actors.Pid, tag: object) -> None:
    actors.send(reply_to, ("done", tag, await actors.register_global(name)))
    while True:
        match await actors.receive():
            case ("global_name_conflict", lost, winner):
                say("conflict", lost, show(winner))


async def member(group: object) -> None:
    actors.join(group)
    await actors.receive("never")


async def agent(stop: actors.Pid) -> None:
    while True:
        match await actors.receive():
            case ("do", reply_to, tag, op, *args):
                result: Any = None
                if op in ("link", "monitor", "monitor_node"):
                    actors.send("watcher", (op, *args))
                elif op == "register_global":
                    actors.spawn(holder, args[0], reply_to, tag)
                    continue
                elif op == "whereis_global":
                    result = actors.whereis_global(args[0])
                elif op == "join":
                    actors.spawn(member, args[0])
                elif op == "members":
                    result = actors.members(args[0])
                elif op == "stop":
                    actors.send(stop, "stop")
                actors.send(reply_to, ("done", tag, result))


async def main() -> None:
    actors.spawn(echo, name="echo")
    actors.spawn(sink, name="sink")
    actors.spawn(watcher, name="watcher")
    actors.spawn(agent, actors.self(), name="agent")
    say("ready")
    await actors.receive("stop")


def option(text: str) -> tuple[str, Any]:
    key, _, value = text.partition("=")
    for kind in (int, float):
        try:
            return key, kind(value)
        except ValueError:
            pass
    return key, {"true": True, "false": False}.get(value, value)


if __name__ == "__main__":
    name, url = sys.argv[1], sys.argv[2]
    options = dict(option(arg) for arg in sys.argv[3:])
    cookie = os.environ.get("TRIO_MISULTIN_COOKIE", COOKIE)
    if os.environ.get("AGENT_LOG"):  # for debugging a test: this node's log on stderr
        import logging

        logging.basicConfig(level=os.environ["AGENT_LOG"], format=f"%(asctime)s {name} %(message)s")
        logging.getLogger("coredis").setLevel(logging.WARNING)
    try:
        actors.run(main, node=name, cluster=url, cookie=cookie, **options)
    except actors.ClusterError as exc:
        say("refused", exc)
        sys.exit(3)
