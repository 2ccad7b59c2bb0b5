"""A node's membership of a cluster, through Redis.

Redis holds, per node: a heartbeat key `actors:node:NAME` (its creation,
with a TTL of `missed` heartbeats), the set `actors:nodes` of names, and an
inbox stream `actors:inbox:NAME`. One task reads the inbox (XREAD BLOCK);
one sender task per peer takes everything queued for it and writes it as one
signed entry (batching is what makes Redis streams fast: one XADD per batch,
not per message); streams are trimmed (MAXLEN ~) so a slow or dead node
cannot grow Redis without bound. Every `heartbeat` seconds a node refreshes
its key and reads its peers' keys itself (keyspace notifications are
fire-and-forget): a key gone means that node is down.

A node that loses Redis treats every peer as down, keeps running locally,
and rejoins when Redis is back, with a new creation, so that the Pids it
handed out before are dead for everyone. The coredis client lives inside
`run`, the node's long-lived cluster task: a coredis pool's task group must
be exited by the task that opened it.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final
from weakref import WeakValueDictionary

import trio

from . import _cluster_inbound, _wire
from ._errors import ClusterError
from ._global_names import GlobalNames
from ._ids import NodeDown, Pid
from ._remote import RemoteName, RemoteProcess

if TYPE_CHECKING:
    from ._node import Node
    from ._process import Process

__all__ = ["Cluster", "Peer"]

logger = logging.getLogger("actors")

NODES: Final = "actors:nodes"
_BATCH: Final = 2000  # messages per stream entry at most
_RETRY: Final = (0.2, 5.0)  # reconnect back-off: first, last


def node_key(name: str) -> str:
    return f"actors:node:{name}"


def inbox_key(name: str) -> str:
    return f"actors:inbox:{name}"


class Peer:
    """Another node, as this one sees it. One object per name, kept across
    that node's lives: `creation` says which life, `up` whether it is on."""

    def __init__(self, cluster: Cluster, name: str, creation: int) -> None:
        self.cluster = cluster
        self.name = name
        self.creation = creation
        self.up = False
        self.hidden = False  # a hidden node: not in nodes(), never waited for
        self.outbox: list[Any] = []
        self.dropped = 0  # messages refused because the outbox was full
        self.wake = trio.Event()
        self.proxies: WeakValueDictionary[int, RemoteProcess] = WeakValueDictionary()
        self.names: dict[object, RemoteName] = {}
        self.groups: dict[object, dict[Pid, int]] = {}  # its replica of pg
        self.scope: trio.CancelScope | None = None  # its sender task's

    def post(self, msg: Any) -> None:
        """Queue `msg` for this node; never blocks. Dropped (and counted)
        while the node is down or its outbox is full."""
        if not self.up and self.scope is None and self.cluster.seen_down(self):
            return
        if len(self.outbox) >= self.cluster.max_outbox:
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 10_000 == 0:
                logger.warning(
                    "actors cluster: outbox to %s is full (%d): %d messages dropped",
                    self.name,
                    self.cluster.max_outbox,
                    self.dropped,
                )
            return
        self.outbox.append(msg)
        if len(self.outbox) == 1:
            self.wake.set()

    def proxy(self, number: int) -> RemoteProcess:
        """The one proxy of this node's process `number` in this life."""
        proc = self.proxies.get(number)
        if proc is None:
            proc = RemoteProcess(self, Pid(self.name, number, None, self.creation))
            proc.pid._proc = proc
            proc.alive = self.up or self.scope is not None or not self.cluster.seen_down(self)
            self.proxies[number] = proc
        return proc

    def name_proxy(self, name: object) -> RemoteName:
        proxy = self.names.get(name)
        if proxy is None:
            proxy = self.names[name] = RemoteName(self, name)
            proxy.alive = self.up
        return proxy


class Cluster:
    """The cluster side of one node."""

    def __init__(
        self,
        node: Node,
        url: str,
        cookie: str | bytes,
        heartbeat: float = 1.0,
        missed: int = 3,
        max_outbox: int = 100_000,
        stream_maxlen: int = 10_000,
        sync_groups: bool = True,
        max_entry: int = 64 * 1024 * 1024,
        hidden: bool = False,
    ) -> None:
        if not cookie:
            raise ValueError("a cluster needs a cookie: the secret every node shares")
        if heartbeat <= 0 or missed < 1:
            raise ValueError("heartbeat must be > 0 seconds and missed >= 1")
        self.node = node
        self.url = url
        self.key = cookie.encode() if isinstance(cookie, str) else bytes(cookie)
        self.heartbeat = heartbeat
        self.missed = missed
        self.max_outbox = max_outbox
        self.stream_maxlen = stream_maxlen
        self.sync_groups = sync_groups
        self.max_entry = max_entry
        self.hidden = hidden
        self.peers: dict[str, Peer] = {}
        self.node_watchers: dict[str, dict[Process, int]] = {}
        self.globals = GlobalNames(self)
        self.joined = False
        self._nursery: trio.Nursery | None = None
        self._client: Any = None
        self._down_creations: dict[str, int] = {}  # the last life seen to end, per name
        self.up_waiters: dict[str, list[trio.Event]] = {}
        self._unsynced: set[str] = set()  # peers whose memberships a joining node awaits
        self._synced = trio.Event()
        _allow_actors_types()

    # -- what the rest of actors asks ---------------------------------------

    def up_nodes(self) -> list[str]:
        """The visible nodes up now (a hidden node is in no one's list)."""
        return [name for name, peer in self.peers.items() if peer.up and not peer.hidden]

    def peer_for(self, name: str, creation: int) -> Peer:
        """The peer `name` in life `creation` (learnt from a Pid or a
        message before the heartbeat check saw it)."""
        peer = self.peers.get(name)
        if peer is None:
            peer = self.peers[name] = Peer(self, name, creation)
        elif peer.creation != creation and creation > peer.creation:
            self._node_down(peer)
            peer.creation = creation
        return peer

    def seen_down(self, peer: Peer) -> bool:
        return self._down_creations.get(peer.name, 0) >= peer.creation

    def make_pid(self, node: str, number: int, _proc: object, creation: int) -> Pid:
        """Decode a Pid: our own process, a proxy of a peer's, or dead."""
        if node == self.node.name:
            proc = self.node.procs.get(number)
            if proc is not None and proc.pid._creation == creation:
                return proc.pid
            return Pid(node, number, None, creation)
        peer = self.peers.get(node)
        if peer is None or peer.creation < creation:
            peer = self.peer_for(node, creation)
        if peer.creation != creation:
            return Pid(node, number, None, creation)  # an older life: dead
        return peer.proxy(number).pid

    def group_changed(self, op: str, group: object, pid: Pid) -> None:
        for peer in self.peers.values():
            if peer.up:
                peer.post(("pg", op, group, pid))

    def remote_members(self, group: object) -> list[Pid]:
        found: list[Pid] = []
        for peer in self.peers.values():
            members = peer.groups.get(group) if peer.up else None
            if members:
                for pid, joins in members.items():
                    found.extend([pid] * joins)
        return found

    def process_exited(self, proc: Process) -> None:
        self.globals.owner_exited(proc)

    def monitor_node(self, proc: Process, name: str) -> None:
        peer = self.peers.get(name)
        if peer is None or not peer.up:
            proc.deliver(NodeDown(name))
            return
        watchers = self.node_watchers.setdefault(name, {})
        watchers[proc] = watchers.get(proc, 0) + 1

    # -- the node's cluster task ----------------------------------------------

    async def run(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        """Join, then serve the inbox and the heartbeat until the node ends;
        across a loss of Redis, rejoin with a new creation."""
        import coredis

        lost = (coredis.exceptions.RedisError, OSError, TimeoutError)
        delay = _RETRY[0]
        while True:
            try:
                client = coredis.Redis.from_url(self.url)
                async with client:
                    self._client = client
                    try:
                        await self._join(client)
                        delay = _RETRY[0]
                        async with trio.open_nursery() as nursery:
                            self._nursery = nursery
                            await self.globals.load(client)
                            await self._check(client)
                            nursery.start_soon(self._read_inbox, client)
                            nursery.start_soon(self._beat, client)
                            await self._await_memberships()
                            if not self.joined:
                                self.joined = True
                                task_status.started()
                    finally:
                        self._nursery = None
                        for peer in list(self.peers.values()):
                            self._node_down(peer)
                        with trio.CancelScope(shield=True), trio.move_on_after(2):
                            await self._leave(client)
                        self._client = None
            except BaseException as caught:
                refused = _only(caught, (ClusterError,))
                if refused is not None:  # out of the nurseries of coredis and ours
                    raise refused from None
                exc = _only(caught, lost)
                if exc is None:
                    raise
                if not self.joined:
                    where = _redacted(self.url)
                    raise ClusterError(f"cannot join the cluster at {where}: {exc}") from exc
                logger.warning(
                    "actors cluster: node %s lost Redis (%s); running alone, rejoining",
                    self.node.name,
                    exc,
                )
            await trio.sleep(delay)
            delay = min(delay * 2, _RETRY[1])

    async def _await_memberships(self) -> None:
        """Wait (a little: a peer may be dying) until every peer up at join
        has sent its group memberships, so that once joined, `members` is
        the cluster's."""
        self._unsynced = {name for name, peer in self.peers.items() if peer.up and not peer.hidden}
        if not self._unsynced or not self.sync_groups:
            return
        self._synced = trio.Event()
        with trio.move_on_after(self.heartbeat * (self.missed + 1)):
            await self._synced.wait()
        self._unsynced.clear()

    def synced_from(self, name: str) -> None:
        """A peer's memberships arrived."""
        if name in self._unsynced:
            self._unsynced.discard(name)
            if not self._unsynced:
                self._synced.set()

    async def _join(self, client: Any) -> None:
        import coredis

        name = self.node.name
        # A creation per life of the name, later than any before it even if
        # Redis lost its data meanwhile: the time in ms, past our last one.
        creation = max(time.time_ns() // 1_000_000, self.node.creation + 1)
        if not await client.set(
            node_key(name),
            _key_value(creation, self.hidden),
            condition=coredis.PureToken.NX,
            px=self._ttl_ms(),
        ):
            raise ClusterError(f"node name {name!r} is taken by a live node of the cluster")
        await client.delete([inbox_key(name)])
        await client.sadd(NODES, [name])
        self.node.creation = creation
        self.globals.clear()

    async def _leave(self, client: Any) -> None:
        """Free the node's name and inbox, so that the others see it go now
        (after a loss of Redis this fails, and the key's TTL does it)."""
        name = self.node.name
        try:
            await self.globals.release_all(client)
            await client.eval(
                _DEL_IF, [node_key(name)], [_key_value(self.node.creation, self.hidden)]
            )
            await client.srem(NODES, [name])
            await client.delete([inbox_key(name)])
        except Exception as exc:
            logger.debug("actors cluster: leaving without Redis: %r", exc)

    def _ttl_ms(self) -> int:
        return max(1, math.ceil(self.heartbeat * self.missed * 1000))

    async def _beat(self, client: Any) -> None:
        while True:
            await trio.sleep(self.heartbeat)
            value = _key_value(self.node.creation, self.hidden)
            await client.set(node_key(self.node.name), value, px=self._ttl_ms())
            # Again each beat: a node that stalled past its TTL was buried by
            # the others (taken out of the set); this brings it back.
            await client.sadd(NODES, [self.node.name])
            await self._check(client)

    async def _check(self, client: Any) -> None:
        """Read the other nodes' keys: who came, who went.

        Only a peer that was up before the reads can be judged down by
        them: one whose first message arrived meanwhile is newer than what
        was read."""
        name = self.node.name
        judged = {peer.name for peer in self.peers.values() if peer.up or peer.scope is not None}
        names = [n.decode() for n in await client.smembers(NODES)]
        others = [n for n in names if n != name]
        values = await client.mget([node_key(n) for n in others]) if others else ()
        alive: dict[str, int] = {}
        hidden: set[str] = set()
        for other, value in zip(others, values, strict=True):
            if value is None:
                await self._bury(client, other)
            else:
                if isinstance(value, str):
                    value = value.encode()
                creation, _, mark = value.partition(b":")
                alive[other] = int(creation)
                if mark == _HIDDEN:
                    hidden.add(other)
        for peer in list(self.peers.values()):
            if peer.name in judged and peer.name not in alive:
                self._node_down(peer)
        for other, creation in alive.items():
            peer = self.peer_for(other, creation)
            if peer.creation == creation:
                peer.hidden = other in hidden
            if not peer.up and peer.creation == creation:
                self._node_up(peer)  # new, or back after we took it for down

    async def _bury(self, client: Any, name: str) -> None:
        """A node whose key expired: drop it, its inbox and its global names."""
        peer = self.peers.get(name)
        if peer is not None and (peer.up or peer.scope is not None):
            self._node_down(peer)
        await self.globals.release_node(client, name)
        await client.srem(NODES, [name])
        await client.delete([inbox_key(name)])

    # -- peers coming and going -------------------------------------------------

    def _node_up(self, peer: Peer) -> None:
        assert self._nursery is not None
        peer.up = True
        if self._down_creations.get(peer.name) == peer.creation:
            del self._down_creations[peer.name]  # taken for down, but it was not
        for proxy in list(peer.proxies.values()):
            proxy.alive = True
        logger.info("actors cluster: node %s sees %s up", self.node.name, peer.name)
        for event in self.up_waiters.pop(peer.name, ()):
            event.set()
        # First of all it says whether this node is hidden: the peer learns
        # it in the same step in which it sees this node up.
        peer.outbox.insert(0, ("pg_sync", _snapshot(self.node.groups), self.hidden))
        peer.wake.set()
        self._nursery.start_soon(self._send_to, peer)

    def _node_down(self, peer: Peer) -> None:
        """`peer` is down: its links, monitors, names, groups and calls end
        with "noconnection", as Erlang's do when a connection drops."""
        was_on = peer.up or peer.scope is not None
        peer.up = False
        self._down_creations[peer.name] = peer.creation
        if peer.scope is not None:
            peer.scope.cancel()
            peer.scope = None
        peer.outbox.clear()
        peer.groups.clear()
        self.globals.node_down(peer.name)
        proxies = [*peer.proxies.values(), *peer.names.values()]
        peer.proxies = WeakValueDictionary()
        peer.names.clear()
        for proxy in proxies:
            _disconnect(proxy)
        watchers = self.node_watchers.pop(peer.name, {})
        for proc, count in watchers.items():
            for _ in range(count):
                proc.deliver(NodeDown(peer.name))
        if was_on:
            logger.warning("actors cluster: node %s sees %s down", self.node.name, peer.name)

    async def _send_to(self, peer: Peer) -> None:
        """The sender task of one peer: each wake-up, everything queued goes
        out as one signed entry of its inbox stream."""
        import coredis

        client = self._client
        envelope_head = (self.node.name, self.node.creation, peer.creation)
        with trio.CancelScope() as scope:
            peer.scope = scope
            while True:
                if not peer.outbox:
                    peer.wake = trio.Event()
                    await peer.wake.wait()
                batch, peer.outbox = peer.outbox[:_BATCH], peer.outbox[_BATCH:]
                for data in self._entries(envelope_head, batch, peer):
                    await client.xadd(
                        inbox_key(peer.name),
                        {"m": data},
                        trim_strategy=coredis.PureToken.MAXLEN,
                        trim_operator=coredis.PureToken.APPROXIMATELY,
                        threshold=self.stream_maxlen,
                    )

    def _entries(self, head: tuple[Any, ...], batch: list[Any], peer: Peer) -> list[bytes]:
        """`batch` as signed entries of at most `max_entry` bytes: halved
        until each fits; a single message bigger than that is dropped and
        logged (Redis would refuse it, or a reader choke on it)."""
        try:
            data = _wire.encode(self.key, (*head, batch))
        except Exception as exc:  # a message that does not pickle
            if len(batch) > 1:
                half = len(batch) // 2
                return self._entries(head, batch[:half], peer) + self._entries(
                    head, batch[half:], peer
                )
            logger.error(  # noqa: TRY400 - the sender's message, not our bug
                "actors cluster: a message to %s does not pickle, dropped: %s", peer.name, exc
            )
            return []
        if len(data) <= self.max_entry:
            return [data]
        if len(batch) > 1:
            half = len(batch) // 2
            return self._entries(head, batch[:half], peer) + self._entries(head, batch[half:], peer)
        logger.error(
            "actors cluster: a message to %s is %d bytes, more than max_entry %d: dropped",
            peer.name,
            len(data),
            self.max_entry,
        )
        return []

    async def _read_inbox(self, client: Any) -> None:
        stream = inbox_key(self.node.name)
        last = "0-0"
        while True:
            got = await client.xread({stream: last}, count=64, block=10_000)
            for entries in (got or {}).values():
                for entry in entries:
                    last = entry.identifier
                    self._accept(entry.field_values.get(b"m", b""))

    def _accept(self, data: bytes) -> None:
        """Check and decode one entry; run its messages in order."""
        if len(data) > self.max_entry:  # not ours: ours are cut to fit
            logger.error(
                "actors cluster: node %s dropped an entry of %d bytes (max_entry %d)",
                self.node.name,
                len(data),
                self.max_entry,
            )
            return
        try:
            sender, creation, mine, batch = _wire.decode(self.key, data, self.make_pid)
        except (_wire.WireError, ValueError, TypeError) as exc:
            logger.error(  # noqa: TRY400 - a refused message, not a bug: no traceback
                "actors cluster: node %s dropped a message: %s", self.node.name, exc
            )
            return
        if mine != self.node.creation:
            return  # sent to an earlier life of this node
        peer = self.peer_for(sender, creation)
        if peer.creation != creation:
            return  # from an earlier life of that node
        if not peer.up and self._nursery is not None:
            self._node_up(peer)
        for msg in batch:
            try:
                _cluster_inbound.handle(self, peer, msg)
            except Exception:
                logger.exception("actors cluster: a message from %s failed: %r", sender, msg)


_HIDDEN: Final = b"hidden"


def _key_value(creation: int, hidden: bool) -> str:
    """A node's heartbeat key: its creation, and ":hidden" for a hidden
    node, so that every node learns it from the keys it reads anyway."""
    return f"{creation}:hidden" if hidden else str(creation)


def _redacted(url: str) -> str:
    """`url` without its password, for messages and logs."""
    scheme, sep, rest = url.partition("://")
    userinfo, at, host = rest.rpartition("@")
    if not at:
        return url
    user = userinfo.partition(":")[0]
    return f"{scheme}{sep}{user}:***@{host}"


def _only(exc: BaseException, kinds: tuple[type[BaseException], ...]) -> BaseException | None:
    """`exc` if it is one of `kinds`, or a group (from the nurseries of
    coredis and ours) of nothing else, as its first leaf; else None."""
    if isinstance(exc, kinds):
        return exc
    if isinstance(exc, BaseExceptionGroup):
        matched, rest = exc.split(kinds)
        if matched is not None and rest is None:
            leaf: BaseException = matched
            while isinstance(leaf, BaseExceptionGroup):
                leaf = leaf.exceptions[0]
            return leaf
    return None


def _disconnect(proxy: RemoteProcess) -> None:
    proxy.alive = False
    pid = proxy.monitored_as
    links, proxy._links = proxy._links, None
    for proc in links or ():
        if proc._links:
            proc._links.discard(proxy)
        proc.exit_signal(proxy.pid, "noconnection")
    watchers, proxy._watchers = proxy._watchers, None
    for ref, proc in (watchers or {}).items():
        proc.monitor_down(ref, pid, "noconnection")
    monitors, proxy._monitors = proxy._monitors, None
    for ref, proc in (monitors or {}).items():
        if proc._watchers:
            proc._watchers.pop(ref, None)


def _snapshot(groups: dict[object, dict[Any, int]]) -> dict[object, list[tuple[Pid, int]]]:
    return {
        group: [(proc.pid, joins) for proc, joins in members.items()]
        for group, members in groups.items()
    }


_DEL_IF: Final = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""

_allowed_once: list[bool] = []


def _allow_actors_types() -> None:
    """The types of `actors` that messages between nodes carry."""
    if _allowed_once:
        return
    _allowed_once.append(True)
    from . import _errors, _gen_server

    for name in ("From",):
        _wire.allow_name("actors._gen_server", name, getattr(_gen_server, name))
    for name in ("_CALL", "_CAST", "_GET_STATE"):
        _wire.allow_name("actors._gen_server", name, getattr(_gen_server, name))
    for name in _errors.__all__:
        _wire.allow_name("actors._errors", name, getattr(_errors, name))
    from ._global_names import Global

    _wire.allow_name("actors._global_names", "Global", Global)


Handler = Callable[["Cluster", Peer, Any], None]
