"""What the layers above `actors` need beyond the public API.

As `trio.lowlevel` is to trio: for code that builds servers on processes
(the WebSocket layer uses all of it), not for applications. Everything here
keeps the guarantees of the public API: it never blocks a sync call, and
each async function is a checkpoint that waits for an event, never polls.

System services (a layer's processes that are the node's, not the
user's: websocket's poller; see `_system.py`):

- `spawn_system(fn, *args, name=None, link=False, trap_exits=False)`:
  `spawn` of a system process. Like "$inspect", it is left out of
  `actors.processes()` and `actors.registered()`, and its `process_rows`
  row says `"system": True` (the observer hides it by default and never
  kills it). Anything that ends a process still ends it: restarting it is
  the job of the layer that started it.
- `NodeVar(name)`: one value per node, as `trio.lowlevel.RunVar` is per
  run: `get()` (LookupError if unset), `get(default)`, `set(value)`, from
  any process of the node; it dies with the node.

Signals: `is_run_handler(handler)`, whether a SIGTERM handler (from
`signal.getsignal`) is the one `actors.run` installs (it ends the node as
Ctrl-C does), so that a layer that drains on SIGTERM may take the signal
over from it as from the default.

Cluster: `cluster_peers()`, the other nodes this one knows, each with
`node`, `up`, `hidden` and its queue (`outbox` messages, `outbox_bytes`),
as the metrics endpoint shows them.

Introspection (what the observer page shows; Erlang's observer, `sys` and
`erlang:process_info`). Each reads the calling process's node, runs no user
code, and returns builtins, Pids and strings only:

- `node_info()`: `{"node", "processes", "rss" (bytes), "messages"
  (delivered to local mailboxes since the node started), "uptime" (s),
  "hidden", "stats"}`; `stats` holds what upper layers registered with
  `add_stat(name, fn)` (httpserver: "http_connections"; websocket:
  "websockets"), read on demand.
- `add_probe(name, fn)` / `probe(name)`: an upper layer's table read on
  demand (websocket's "websockets": one row per open socket); `[]` for a
  name nobody registered. Supervisors register "supervisor_restarts":
  `{"pid", "recent"}` per live supervisor, `recent` being the restarts it
  made within its last `period` seconds (what `intensity` bounds).
- `global_names()`: `[(name, pid)]`, every global name this node's replica
  knows (the whole cluster's; the node's own without a cluster), sorted
  by `repr` of the name.
- `process_rows()`: one row per live process (pid, name,
  current_function, status, message_queue_len, received, runtime, links,
  monitors, groups, kind, system). Unlike `actors.processes()` it lists the
  node's system processes too ("$inspect", those of `spawn_system`, and
  those marked with `mark_system`), with "system" True.
- `mark_system(pid=None)`: make a process of this node (default: the
  caller) a system process, one an upper layer runs for itself (the
  observer's own): `actors.processes()` leaves it out, and its row, its
  tree entry and its exit event say "system", so that a page hides it by
  default and never kills it.
- `supervision_trees()`: the supervisors no local supervisor supervises,
  with their children (restart counts, last exit reasons as `describe`
  strings, "system"), nested supervisors expanded; each supervisor's
  "restarts" (made in all) and "recent" (within its period: what its
  intensity bounds).
- `describe(value, limit=2000)`: `repr(value)` cut to `limit`, except that
  a partial, a child spec or a supervisor's child record (also inside
  containers and exceptions) is named by its function, never shown with its
  arguments: how reasons, messages and states are shown on a page.
- `watch()`: a `with` block during which a trio Instrument counts each
  process's running time ("runtime" in its row); blocks nest and overlap;
  with none open there is no instrument at all, and runtimes stay as they
  were (None for a process never watched).
- `process_stack(pid)`: where a live local process awaits, one
  "file:line in function" per frame, innermost last; `[]` if not alive.
- `process_messages(pid, limit=100)`: the oldest messages waiting in a live
  local process's mailbox, each `describe`d in 500 characters (contents
  can be secrets: show them only to whom may see them).
- `subscribe(pid=None)` / `unsubscribe(pid=None)`: `("actors_event",
  "exit", {"pid", "reason", "system"})` for each process that ends with a reason
  other than normal/shutdown, and `("actors_event", "restart",
  {"supervisor", "id", "old", "new", "reason"})` for each restart a
  supervisor makes. A subscriber that dies is forgotten; one with more than
  10,000 messages waiting misses events (counted, logged once).
- `await inspect(node, what, *args, timeout=5.0)`: any of the above on
  `node` (this node's own name too) through its system process "$inspect":
  `what` is "node_info", "supervision_trees", "process_rows",
  "process_info" (pid), "process_stack" (pid), "process_messages" (pid), "probe" (name), "get_state"
  (pid), "subscribe" (pid), "unsubscribe" (pid) or "watch" (on: one count
  per caller, ended when the caller dies). `CallTimeout` if the node does
  not answer; ValueError for an unknown `what`.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Any

import trio

from ._api import _process_of
from ._ids import Pid
from ._inspect_agent import inspect
from ._introspect import (
    add_probe,
    add_stat,
    mark_system,
    node_info,
    probe,
    process_messages,
    process_rows,
    process_stack,
    subscribe,
    supervision_trees,
    unsubscribe,
)
from ._logging import add_logger as add_logger
from ._logging import install as install_logging
from ._logging import logger_names as logger_names
from ._observed import describe
from ._process import MailboxWatch as _MailboxWatch
from ._process import Process as _Process
from ._process import current as _current
from ._reasons import is_normal_exit
from ._system import NodeVar, spawn_system
from ._terminate import is_run_handler
from ._watch import watch

__all__ = [
    "NodeVar",
    "spawn_system",
    "add_logger",
    "install_logging",
    "logger_names",
    "add_probe",
    "add_stat",
    "describe",
    "inspect",
    "mark_system",
    "node_info",
    "probe",
    "global_names",
    "process_rows",
    "process_messages",
    "process_stack",
    "subscribe",
    "supervision_trees",
    "unsubscribe",
    "watch",
    "end_process",
    "group_nodes",
    "cluster_peers",
    "in_cluster",
    "open_redis",
    "check_cluster_url",
    "redacted_url",
    "seal",
    "unseal",
    "sync_cluster",
    "cluster_settings",
    "is_normal_exit",
    "is_run_handler",
    "mailbox_len",
    "wait_idle",
    "wait_mailbox_below",
]


def global_names() -> list[tuple[object, Pid]]:
    """Every global name this node knows, with its owner: the cluster's
    replica, or the node's own names without a cluster (the observer shows
    them). Owners that are dead local processes are left out, as
    `whereis_global` leaves them out."""
    node = _current("actors.lowlevel.global_names").node
    names = node.globals if node.cluster is None else node.cluster.globals.replica
    found = [(name, pid) for name, pid in list(names.items()) if _process_of(pid) is not None]
    return sorted(found, key=lambda item: repr(item[0]))


def check_cluster_url(url: str) -> None:
    """`ValueError` saying what is wrong with a cluster URL (redis://,
    rediss://, unix://, redis+sentinel://...), never showing its password;
    for a command line that checks its flags before it starts anything."""
    from ._redis_target import parse_url

    parse_url(url)


def redacted_url(url: str) -> str:
    """A cluster URL as a message or a log may show it: passwords as ***."""
    from ._redis_target import redacted

    return redacted(url)


def open_redis(url: str) -> AbstractAsyncContextManager[Any]:
    """`async with open_redis(url) as client`: a coredis client to the Redis
    of a cluster URL (its primary, with Sentinel, found again after a
    failover), for a layer above that keeps data there (httpserver's
    sessions). Needs the cluster extra."""
    from ._redis_target import open_lasting_client, parse_url

    return open_lasting_client(parse_url(url))


def in_cluster() -> bool:
    """Whether the calling process's node belongs to a cluster."""
    return _current("actors.lowlevel.in_cluster").node.cluster is not None


def cluster_settings() -> dict[str, Any] | None:
    """How the calling process's node joined its cluster (`name`, `url`,
    `cookie`, `heartbeat`, `missed`), for a layer that starts more nodes of
    it in other OS processes (httpserver's workers); None outside one.
    The cookie is the cluster's secret: pass it only to processes you start."""
    node = _current("actors.lowlevel.cluster_settings").node
    cluster = node.cluster
    if cluster is None:
        return None
    return {
        "name": node.name,
        "url": cluster.url,
        "cookie": cluster.key,
        "heartbeat": cluster.heartbeat,
        "missed": cluster.missed,
    }


async def sync_cluster(timeout: float = 5.0) -> list[str]:
    """Wait until every other node up now has handled what this node sent
    it before the call (messages between two nodes keep their order): a
    process's group joins, for one, are then in every replica. Returns the
    nodes that answered within `timeout` seconds (a node going down does
    not)."""
    from ._ids import Ref
    from ._process import receive

    caller = _current("actors.lowlevel.sync_cluster")
    cluster = caller.node.cluster
    if cluster is None:
        return []
    ref = Ref()
    asked = [peer for peer in cluster.peers.values() if peer.up]
    for peer in asked:
        peer.control("sync", ref, caller.pid)
    answered: list[str] = []
    with trio.move_on_after(timeout):
        while len(answered) < len(asked):
            _, _, name = await receive(lambda m: type(m) is tuple and len(m) == 3 and m[1] is ref)
            answered.append(name)
    return answered


def seal(obj: Any) -> bytes:
    """`obj` pickled and signed with the cluster's cookie, as messages
    between nodes are: for a layer above that keeps data in the cluster's
    Redis (httpserver's sessions). Only for a node in a cluster."""
    from ._entries import seal as seal_bytes

    cluster = _current("actors.lowlevel.seal").node.cluster
    if cluster is None:
        raise RuntimeError("seal needs a node in a cluster: the cookie is the key")
    return seal_bytes(cluster.key, cluster.encoder.encode(obj))


def unseal(data: bytes) -> Any:
    """What `seal` made, checked and decoded with the allow-list of
    messages between nodes; ValueError if it fails either check."""
    from ._entries import unseal as unseal_bytes
    from ._wire import WireError

    cluster = _current("actors.lowlevel.unseal").node.cluster
    if cluster is None:
        raise RuntimeError("unseal needs a node in a cluster: the cookie is the key")
    try:
        return cluster.decoder.decode(unseal_bytes(cluster.key, data))
    except WireError as exc:
        raise ValueError(str(exc)) from exc


def cluster_peers() -> list[dict[str, Any]]:
    """The other nodes the calling process's node knows in its cluster, one
    dict each: `node` (its name), `up` (connected now), `hidden`, and what
    waits to go to it, `outbox` (messages) and `outbox_bytes`: what a
    metrics endpoint or a page shows of the cluster's queues. Empty outside
    a cluster."""
    cluster = _current("actors.lowlevel.cluster_peers").node.cluster
    if cluster is None:
        return []
    return [
        {
            "node": name,
            "up": peer.up,
            "hidden": peer.hidden,
            "outbox": len(peer.outbox),
            "outbox_bytes": peer.outbox_bytes,
        }
        for name, peer in list(cluster.peers.items())
    ]


def group_nodes(group: object) -> list[str]:
    """The other nodes of the cluster (up now) where `group` has members,
    from this node's replica: where a layer above sends one message per
    node for that node to fan out (`members(group, local=True)` there).
    Empty outside a cluster."""
    cluster = _current("actors.lowlevel.group_nodes").node.cluster
    if cluster is None:
        return []
    return [name for name, peer in cluster.peers.items() if peer.up and peer.groups.get(group)]


def end_process(pid: Pid, reason: Any) -> None:
    """End `pid` with `reason` at its next checkpoint, trapping or not.

    Not Erlang's `exit/2`, which cannot end a process "normal": this is
    for a layer that owns a process, e.g. a WebSocket whose socket closed
    ends its handler with "normal" (`ws_autoexit`).
    """
    target = _process_of(pid)
    if target is not None:
        target.die(reason)


def mailbox_len(pid: Pid) -> int:
    """How many messages wait in `pid`'s mailbox (0 for a dead process)."""
    # `_process_of`, written out: a WebSocket's reader asks once a message.
    target: _Process | None = pid._proc
    if target is None or not target.alive:
        return 0
    return target.mailbox_len()


async def wait_idle(pid: Pid) -> None:
    """Wait until `pid` is parked in `receive` with nothing in its mailbox
    that it is waiting for (or is dead).

    A WebSocket about to close waits for this (bounded) so that its handler
    answers the messages it already has before the close frame goes out.
    """
    target = _process_of(pid)
    if target is None or target._parked:
        await trio.lowlevel.checkpoint()
        return
    await _watch(target, _MailboxWatch(None))


async def wait_mailbox_below(pid: Pid, limit: int) -> None:
    """Wait until `pid`'s mailbox holds fewer than `limit` messages (or
    `pid` is dead): back-pressure from a process to whatever feeds it."""
    target = _process_of(pid)
    if target is None or target.mailbox_len() < limit:
        await trio.lowlevel.checkpoint()
        return
    await _watch(target, _MailboxWatch(limit))


async def _watch(target: _Process, watch: _MailboxWatch) -> None:
    if target._watches is None:
        target._watches = [watch]
    else:
        target._watches.append(watch)
    try:
        await watch.event.wait()
    finally:
        if not watch.event.is_set() and target._watches is not None:
            target._watches = [w for w in target._watches if w is not watch] or None
