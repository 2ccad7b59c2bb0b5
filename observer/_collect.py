"""The collector: what every node says about itself, as one snapshot, pushed
to every open page.

Once a second (`interval`), and at once when a process crashes or a
supervisor restarts a child anywhere in the cluster, it asks each node's
`$inspect` process (`actors.lowlevel.inspect`) for its figures, its
supervision trees, its processes and its WebSockets, and broadcasts one JSON
text to the page handlers' group: the same bytes to every page, framed once.

It works only while someone watches: with no page open it asks nothing, and
the nodes' running-time counters (`watch`) are on only while a page is.
A burst of crashes makes one snapshot, not one per crash: the events already
waiting are taken together, and snapshots are at least MIN_GAP apart; the
events go to the observer's `History` (`_events`), which no flood empties.

Every process, tree entry and socket of a snapshot says whether it is a
system process ("system"; one its node does not call a user's is taken
for one): the page hides those by default, and a kill never ends one.
"""

from __future__ import annotations

import logging
import math
import time
from typing import Any, Final

import trio

import actors
import websocket

from ._config import Config, running
from ._json import SNAPSHOT_DEPTH, dumps, jsonable
from ._own import mark_own

__all__ = ["collect", "node_names", "snapshot"]

logger = logging.getLogger("observer")

MIN_GAP: Final = 0.05
"""Seconds between two snapshots, at least: a crash loop of many processes
makes one snapshot per MIN_GAP, each with every event that came meanwhile,
rather than one per crash."""


def node_names() -> list[str]:
    """The nodes to show: this one (unless it is a hidden observer node),
    then every visible node of the cluster."""
    info = actors.lowlevel.node_info()
    own = [] if info["hidden"] else [info["node"]]
    return own + sorted(actors.nodes())


async def collect(config: Config, owner: actors.Pid) -> None:
    """The collector process's body (linked to the Observer server)."""
    collector = _Collector(config)
    config.collector = actors.self()
    try:
        await collector.run()
    finally:
        observers = running()
        if observers.get(owner) is config:
            del observers[owner]


class _Collector:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.subscribed: set[str] = set()  # nodes that send us their events
        self.watching: set[str] = set()  # nodes counting running time for us
        self.uptimes: dict[str, float] = {}  # a node whose uptime went back restarted
        self.silent: set[str] = set()  # nodes whose failure to answer was logged

    async def run(self) -> None:
        config = self.config
        due = trio.current_time()  # of the next snapshot
        last = -math.inf  # when the last one was made
        while True:
            try:
                msg = await actors.receive(timeout=max(0.0, due - trio.current_time()))
            except actors.ReceiveTimeout:  # due: every event already here is recorded
                last = trio.current_time()
                due = last + config.interval
                await self.push()
                continue
            match msg:
                case ("actors_event", kind, info):
                    self.record(kind, info)
                    due = min(due, last + MIN_GAP)  # at once, unless one was just made
                case "poke":  # a page opened: it wants figures now
                    due = min(due, last + MIN_GAP)
                case _:
                    pass

    def record(self, kind: Any, info: Any) -> None:
        entry: dict[str, Any] = {}
        if isinstance(info, dict):
            who = info.get("pid", info.get("supervisor"))
            if isinstance(who, actors.Pid):
                entry["node"] = who.node
            entry.update(jsonable(info))
        entry.update(time=time.time(), kind=jsonable(kind))
        self.config.history.record(entry)

    async def push(self) -> None:
        config = self.config
        nodes = node_names()
        pages = len(actors.members(config.group, local=True))
        await self.follow(nodes, pages > 0)
        if not pages:
            return
        before = dict(self.uptimes)
        snap = await snapshot(config, nodes, self.uptimes)
        for node, uptime in self.uptimes.items():
            # A node seen again with a shorter uptime is a new incarnation of
            # its name: it knows nothing of our subscription and watch.
            if uptime < before.get(node, 0.0):
                self.subscribed.discard(node)
                self.watching.discard(node)
        text = dumps(snap, items=config.max_processes, deepest=SNAPSHOT_DEPTH)
        config.last = text
        websocket.broadcast(config.group, text)

    async def follow(self, nodes: list[str], watched: bool) -> None:
        """Subscribe to the events of every node shown; turn their running-time
        counters on while a page is open, off when the last one closes."""
        here = actors.node_name()
        gone = (self.subscribed | self.watching) - set(nodes)
        self.subscribed -= gone
        self.watching -= gone
        for node in nodes:
            if node not in self.subscribed:
                if node == here:
                    actors.lowlevel.subscribe()
                    self.subscribed.add(node)
                elif await self.ask(node, "subscribe", actors.self()) is not _FAILED:
                    self.subscribed.add(node)
            if (
                watched
                and node not in self.watching
                and await self.ask(node, "watch", True) is not _FAILED
            ):
                self.watching.add(node)
        if not watched:
            for node in sorted(self.watching):
                await self.ask(node, "watch", False)
            self.watching.clear()

    async def ask(self, node: str, what: str, *args: Any) -> Any:
        """`inspect` on `node`, or _FAILED (logged once until it answers again)."""
        try:
            answer = await actors.lowlevel.inspect(
                node, what, *args, timeout=self.config.inspect_timeout
            )
        except Exception as exc:  # a node's failure is shown, never the observer's crash
            if node not in self.silent:
                self.silent.add(node)
                logger.warning("observer: node %s did not answer %s: %r", node, what, exc)
            return _FAILED
        self.silent.discard(node)
        return answer


_FAILED: Final = object()


async def snapshot(
    config: Config, nodes: list[str] | None = None, uptimes: dict[str, float] | None = None
) -> dict[str, Any]:
    """Every node's figures, trees, processes and sockets, as the page reads
    them (Pids still as Pids: `dumps` makes them text). Records which Pid
    each "<a.b.c>" of it names, for the page's requests about one."""
    if nodes is None:
        nodes = node_names()
    mark_own(config)  # before the rows are read: they say which are system processes
    shown: list[dict[str, Any]] = []
    trees: list[dict[str, Any]] = []
    rows: list[dict[str, Any]] = []
    sockets: list[dict[str, Any]] = []
    for node in nodes:
        part = await _node(config, node)
        shown.append(part["info"])
        if uptimes is not None and "uptime" in part["info"]:
            uptimes[node] = part["info"]["uptime"]
        trees += part["trees"]
        rows += part["rows"]
        sockets += part["sockets"]
    # A remote node's answer is cut at 1000 rows on the wire: count what it has.
    total = max(len(rows), sum(n.get("processes", 0) for n in shown))
    if len(rows) > config.max_processes:  # the busiest first: what a watcher looks for
        rows.sort(key=_busy, reverse=True)
        del rows[config.max_processes :]
    sockets_total = len(sockets)
    if sockets_total > config.max_processes:  # the most behind first
        sockets.sort(key=lambda s: (s.get("queued_bytes", 0), s.get("pending", 0)), reverse=True)
        del sockets[config.max_processes :]
    pids: dict[tuple[str, str], actors.Pid] = {}
    kinds: dict[tuple[str, str], str] = {}
    system: dict[tuple[str, str], bool] = {}
    for row in rows:
        key = row["node"], str(row["pid"])
        pids[key] = row["pid"]
        kinds[key] = row.get("kind", "process")
        system[key] = row["system"] = row.get("system") is not False  # unsaid: not the user's
    for tree in trees:
        _tree_pids(tree["node"], tree, pids, system)
    for sock in sockets:
        for end in ("handler", "writer"):
            if isinstance(sock.get(end), actors.Pid):
                pids[sock["node"], str(sock[end])] = sock[end]
        sock["system"] = system.get((sock["node"], str(sock.get("handler")))) is True
    names, names_total = global_names(config.max_processes)
    for row in names:
        key = row["node"], str(row["pid"])
        pids.setdefault(key, row["pid"])
        row["system"] = system.get(key, False)
    config.pids = pids
    config.kinds = kinds
    config.system = system
    return {
        "type": "snapshot",
        "observer": actors.node_name(),
        "time": time.time(),
        "interval": config.interval,
        "show_state": config.show_state,
        "nodes": shown,
        "trees": trees,
        "processes": rows,
        "processes_total": total,
        "sockets": sockets,
        "sockets_total": sockets_total,
        "globals": names,
        "globals_total": names_total,
        **config.history.shown(),
    }


def _busy(row: dict[str, Any]) -> tuple[int, int, float]:
    return (row.get("message_queue_len", 0), row.get("received", 0), row.get("runtime") or 0.0)


def _tree_pids(
    node: str,
    sup: Any,
    pids: dict[tuple[str, str], actors.Pid],
    system: dict[tuple[str, str], bool],
) -> None:
    if not isinstance(sup, dict):  # a subtree cut on the wire (too deep): only its repr came
        return
    if isinstance(sup.get("pid"), actors.Pid):
        key = node, str(sup["pid"])
        pids[key] = sup["pid"]
        sup["system"] = system[key] = system.get(key, False) or sup.get("system") is not False
    for child in sup.get("children", ()):
        _tree_pids(node, child, pids, system)


def _add_recent(entry: dict[str, Any], fields: Any, recent: dict[str, int]) -> None:
    """Give each supervisor of a tree ("fields": a root, or a child's
    "supervisor") the restarts it made within its period, which its
    intensity bounds (a node of an older release does not say: left out)."""
    if isinstance(fields, dict) and str(entry.get("pid")) in recent:
        fields["recent"] = recent[str(entry.get("pid"))]
    for child in entry.get("children", ()):
        if isinstance(child, dict):
            _add_recent(child, child.get("supervisor"), recent)


def global_names(limit: int) -> tuple[list[dict[str, Any]], int]:
    """The global names this node knows (the whole cluster's), the first
    `limit` of them as rows, and how many there are."""
    names = actors.lowlevel.global_names()
    rows = [
        {"name": name if isinstance(name, str) else actors.lowlevel.describe(name, 200)}
        | {"pid": pid, "node": pid.node}
        for name, pid in names[:limit]
    ]
    return rows, len(names)


async def _node(config: Config, node: str) -> dict[str, Any]:
    """What one node says; a node that does not answer is shown with why."""
    timeout = config.inspect_timeout
    inspect = actors.lowlevel.inspect
    try:
        info = await inspect(node, "node_info", timeout=timeout)
        trees = await inspect(node, "supervision_trees", timeout=timeout)
        rows = await inspect(node, "process_rows", timeout=timeout)
        sockets = await inspect(node, "probe", "websockets", timeout=timeout)
        windows = await inspect(node, "probe", "supervisor_restarts", timeout=timeout)
    except Exception as exc:  # a node's failure is shown on its row, never the observer's crash
        return {
            "info": {"node": node, "error": f"no answer: {exc!r}"},
            "trees": [],
            "rows": [],
            "sockets": [],
        }
    stats = info.get("stats", {})
    now = time.monotonic()
    rate = None
    last = config.samples.get(node)
    if last is not None and now > last[0] and info["messages"] >= last[1]:
        rate = (info["messages"] - last[1]) / (now - last[0])
    config.samples[node] = (now, info["messages"])
    shown = {
        **info,
        "rate": rate,
        "websockets": stats.get("websockets", 0),
        "http_connections": stats.get("http_connections", 0),
    }
    # Rows only: a list cut on the wire ends with a note of what was left out.
    trees, rows, sockets = (
        [item for item in part if isinstance(item, dict)] for part in (trees, rows, sockets)
    )
    for item in (*trees, *rows, *sockets):
        item["node"] = node
    recent = {
        str(row["pid"]): row["recent"]
        for row in windows
        if isinstance(row, dict) and isinstance(row.get("recent"), int)
    }
    for tree in trees:
        _add_recent(tree, tree, recent)
    return {"info": shown, "trees": trees, "rows": rows, "sockets": sockets}
