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
"sink" (keeps each ("n", i); ("report", pid) -> ("got", list) at once;
("report", pid, node) -> the same once node's streamer has said
("end", node), which pair order puts after its last message; answers pings), "watcher"
(traps exits; links and monitors what it is told; answers pings as echo
does) and "agent", which does
("do", reply_to, tag, op, *args) and answers ("done", tag, result):
link PID | monitor PID | monitor_node NAME | register_global NAME |
whereis_global NAME | join GROUP | members GROUP | call DEST REQUEST | nodes | wait_nodes NAMES |
sync | stream DEST PACE (its "streamer" says ("started", tag) at once, and
answers once it is sent "stop") | stop.
"counter" is a GenServer: a call adds its request and answers (node, total).

AGENT_MOVE=MODULE moves a private module of actors before the node starts
(another name, and its classes say so): a node of a release whose files
moved, for the wire's compatibility test.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import trio

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
    ended: set[str] = set()
    asked: list[tuple[actors.Pid, str]] = []
    while True:
        match await actors.receive():
            case ("n", i):
                got.append(i)
            case ("end", node):
                ended.add(node)
            case ("report", pid):  # from the sender itself: its pair order suffices
                actors.send(pid, ("got", got))
            case ("report", pid, node):
                asked.append((pid, node))
            case ("ping", sender, x):
                actors.send(sender, ("pong", actors.self(), x))
            case _:
                pass
        for pid, node in [a for a in asked if a[1] in ended]:
            asked.remove((pid, node))
            actors.send(pid, ("got", got))


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


class Counter(actors.GenServer):
    """Registered "counter": a call adds to it and answers (node, total)."""

    def init(self) -> None:
        self.total = 0

    def handle_call(self, request: Any, from_: actors.From) -> Any:
        self.total += request
        return (actors.node_name(), self.total)


async def member(group: object) -> None:
    actors.join(group)
    await actors.receive("never")


async def streamer(dest: actors.Pid, pace: int, reply_to: actors.Pid, tag: object) -> None:
    """Send ("n", (this node, i)) to `dest`, `pace` messages a millisecond,
    linked and trapping, until told "stop"; link again once the node is
    back after each disconnect. Then answer ("done", tag, (sent, the send
    index at each reported noconnection, the send index at each relink)):
    what it sent between a report and the relink after it went into a
    connection it knew was down."""
    actors.trap_exits()
    actors.link(dest)
    actors.send(reply_to, ("started", tag))
    linked = True
    me = actors.node_name()
    reported: list[int] = []
    relinked: list[int] = []
    i = 0
    while True:
        for _ in range(pace):
            actors.send(dest, ("n", (me, i)))
            i += 1
        await trio.sleep(0.001)
        if not linked and dest.node in actors.nodes():
            actors.link(dest)
            linked = True
            relinked.append(i)
        while True:
            try:
                msg = await actors.receive(timeout=0)
            except actors.ReceiveTimeout:
                break
            match msg:
                case "stop":
                    actors.send(dest, ("end", me))  # after every message, by pair order
                    actors.send(reply_to, ("done", tag, (i, reported, relinked)))
                    return
                case actors.Exit(pid, "noconnection") if pid == dest:
                    reported.append(i)
                    linked = False


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
                elif op == "call":
                    result = await actors.call(args[0], args[1])
                elif op == "nodes":
                    result = sorted(actors.nodes())
                elif op == "wait_nodes":
                    for other in args[0]:
                        await actors.testing.wait_node(other, timeout=30)
                elif op == "sync":
                    result = await actors.lowlevel.sync_cluster()
                elif op == "stream":
                    actors.spawn(streamer, args[0], args[1], reply_to, tag, name="streamer")
                    continue
                elif op == "stop":
                    actors.send(stop, "stop")
                actors.send(reply_to, ("done", tag, result))


async def main() -> None:
    actors.spawn(echo, name="echo")
    actors.spawn(sink, name="sink")
    actors.spawn(watcher, name="watcher")
    actors.spawn(agent, actors.self(), name="agent")
    await Counter.start(name="counter")
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


def move(module: str) -> None:
    """As if `module` were another file in this release: its classes and
    functions say they live in MODULE_moved (what pickle would write)."""
    old = sys.modules[module]
    moved = module + "_moved"
    sys.modules[moved] = old
    for value in vars(old).values():
        if getattr(value, "__module__", None) == module:
            value.__module__ = moved


if __name__ == "__main__":
    name, url = sys.argv[1], sys.argv[2]
    if os.environ.get("AGENT_MOVE"):
        move(os.environ["AGENT_MOVE"])
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
