"""A node's membership of a cluster, through Redis: its connections with
the other nodes, the session that holds its client, and its leaving.

Each node has a heartbeat key, an inbox stream and a place in the set of
node names (`_cluster_scripts` lists the keys). Heartbeats say who is up
(`_membership`); one task reads the inbox and checks each entry
(`_inbox`); one sender task per connected peer writes what is queued for
it as signed entries, through a script that refuses to write to a node
that is gone or to an inbox that its reader does not empty. A connection
goes up and down here (`connect`, `disconnect`): down, its links,
monitors and node monitors get "noconnection", on both sides.

The creation is drawn once per node: a reconnect keeps it, so the Pids
user code holds work again after it. A node that ends cleanly says bye to
every peer and removes its keys (`leave`), while its client is still open:
the cluster task lives in a nursery of its own, outside the processes'.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Final

import trio

from . import _cluster_scripts as scripts
from . import _entries
from ._beats import Beat
from ._cluster_log import Complaints
from ._errors import ClusterError
from ._global_names import GlobalNames
from ._ids import NodeDown, Pid
from ._inbox import read_inbox
from ._membership import Lost, beat_once, check, claim
from ._peer import Peer
from ._redis_reader import InboxReader
from ._redis_target import Address, RedisTarget, open_client, parse_url
from ._redis_writer import EntryWriter, RedisReplyError
from ._remote import RemoteProcess
from ._wire import Decoder, Encoder, WireError

if TYPE_CHECKING:
    from ._node import Node
    from ._process import Process

__all__ = ["OPTIONS", "Cluster"]

logger = logging.getLogger("actors")

_BATCH: Final = 2000  # frames per entry at most
_BATCH_BYTES: Final = 1024 * 1024  # an entry's frames, short of one big message
_RETRY: Final = (0.2, 5.0)  # reconnect back-off: first, last
_MAX_NAME: Final = 255
_SCRIPTS: Final = (
    "SET_IF",
    "BURY",
    "LEAVE",
    "GLOBAL_REGISTER",
    "GLOBAL_TAKE",
    "GLOBAL_RELEASE",
)

OPTIONS: Final = frozenset(
    {
        "heartbeat",
        "missed",
        "max_outbox",
        "max_outbox_bytes",
        "stream_maxlen",
        "sync_groups",
        "max_entry",
        "max_decoded",
        "hidden",
    }
)
"""The keyword options of a cluster node (`actors.node(cluster=...)`)."""


class Cluster:
    """The cluster side of one node."""

    def __init__(
        self,
        node: Node,
        url: str,
        cookie: str | bytes,
        heartbeat: float = 1.0,
        missed: int = 3,
        max_outbox: int = 1_000_000,
        max_outbox_bytes: int = 64 * 1024 * 1024,
        stream_maxlen: int = 10_000,
        sync_groups: bool = True,
        max_entry: int = 8 * 1024 * 1024,
        max_decoded: int = 64 * 1024 * 1024,
        hidden: bool = False,
    ) -> None:
        if not cookie:
            raise ValueError("a cluster needs a cookie: the secret every node shares")
        if not (heartbeat > 0 and missed >= 1):
            raise ValueError("heartbeat must be > 0 seconds and missed >= 1")
        for option, value in (
            ("max_outbox", max_outbox),
            ("max_outbox_bytes", max_outbox_bytes),
            ("stream_maxlen", stream_maxlen),
            ("max_entry", max_entry),
            ("max_decoded", max_decoded),
        ):
            if type(value) is not int or value < 1:
                raise ValueError(f"{option} must be a positive int, not {value!r}")
        name = node.name
        if not name or len(name.encode()) > _MAX_NAME or not name.isprintable():
            raise ValueError(f"a node name is 1 to {_MAX_NAME} printable bytes, not {name!r}")
        self.node = node
        self.target: RedisTarget = parse_url(url)
        self.url = url
        self.key = cookie.encode() if isinstance(cookie, str) else bytes(cookie)
        self.heartbeat = heartbeat
        self.missed = missed
        self.max_outbox = max_outbox
        self.max_outbox_bytes = max_outbox_bytes
        self.stream_maxlen = stream_maxlen
        self.sync_groups = sync_groups
        self.max_entry = max_entry
        self.hidden = hidden
        # Drawn once per node: a reconnect keeps it (Erlang's creation).
        self.creation = max(time.time_ns() // 1_000_000, node.creation + 1)
        node.creation = self.creation
        self.encoder = Encoder()
        self.decoder = Decoder(self.make_pid, max_decoded)
        self.complaints = Complaints(logger)
        self.peers: dict[str, Peer] = {}
        self.node_watchers: dict[str, dict[Process, int]] = {}
        self.globals = GlobalNames(self)
        self.up_waiters: dict[str, list[trio.Event]] = {}
        self.joined = False
        self.client: Any = None  # coredis, while connected
        self.address: Address | None = None  # the server it is connected to
        self.session: trio.Nursery | None = None  # the tasks of one connection to Redis
        self._scope = trio.CancelScope(shield=True)  # all of run: only `stop` ends it
        self._scripts: dict[str, Any] = {}
        self.beat = Beat(self.creation, hidden, 0, self.ttl_ms())
        self.beat_written = b""  # our heartbeat as last written
        self.read_from = b"0-0"
        self._unsynced: set[str] = set()
        self._synced = trio.Event()
        self._left = trio.Event()
        self._leave_started = False
        self._beating = trio.Lock()

    # -- what the rest of actors asks ---------------------------------------------

    def up_nodes(self) -> list[str]:
        """The visible nodes connected now (a hidden node is in no one's list)."""
        return [name for name, peer in self.peers.items() if peer.up and not peer.hidden]

    def peer_for(self, name: str, creation: int) -> Peer:
        """The peer `name`; a creation above the one known is a new life of it
        (learnt from a signed entry or a Pid inside one): the old life ends."""
        peer = self.peers.get(name)
        if peer is None:
            peer = self.peers[name] = Peer(self, name, creation)
        elif creation > peer.creation:
            peer = self.new_life(peer, creation)
        return peer

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
                peer.control("pg", op, group, pid)

    def remote_members(self, group: object) -> list[Pid]:
        found: list[Pid] = []
        for peer in self.peers.values():
            members = peer.groups.get(group) if peer.up else None
            if members:
                for pid, joins in members.items():
                    found.extend([pid] * joins)
        return found

    def process_exited(self, proc: Process) -> None:
        if not self.node.closing:  # a node that ends frees every name as it leaves
            self.globals.owner_exited(proc)

    def monitor_node(self, proc: Process, name: str) -> None:
        peer = self.peers.get(name)
        if peer is None or not peer.up:
            proc.deliver(NodeDown(name))
            return
        watchers = self.node_watchers.setdefault(name, {})
        watchers[proc] = watchers.get(proc, 0) + 1

    @property
    def connected(self) -> bool:
        return self.session is not None

    # -- the node's cluster task ------------------------------------------------------

    async def run(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        """Join, then serve the inbox and the heartbeat until the node leaves;
        across a loss of Redis, rejoin (same creation) when it is back."""
        import coredis

        lost = (
            coredis.exceptions.RedisError,
            OSError,
            TimeoutError,
            trio.BrokenResourceError,  # our inbox connection, broken or reset
            trio.ClosedResourceError,
            trio.TooSlowError,  # our inbox connection, silent for too long
            WireError,
        )
        delay = _RETRY[0]
        with self._scope:
            while True:
                try:
                    await self._session_life(task_status)
                    delay = _RETRY[0]
                except BaseException as caught:
                    refused = _only(caught, (ClusterError,))
                    if refused is not None:
                        raise refused from None
                    exc = _only(caught, (*lost, Lost))
                    if exc is None:
                        raise
                    if not self.joined:
                        where = self.target.redacted
                        raise ClusterError(f"cannot join the cluster at {where}: {exc}") from exc
                    if not self._leave_started:
                        logger.warning(
                            "actors cluster: node %s lost Redis (%s); running alone, rejoining",
                            self.node.name,
                            _describe(exc),
                        )
                finally:
                    self.session = None
                    self.client = None
                    self.disconnect_all(
                        "this node left" if self._leave_started else "the node lost Redis"
                    )
                if self._leave_started:
                    break
                await trio.sleep(delay)
                delay = min(delay * 2, _RETRY[1])

    async def _session_life(self, task_status: Any) -> None:
        """One connection to Redis: join, then run until it fails or we leave."""
        async with open_client(self.target) as (client, address):
            self.client = client
            self.address = address
            self._scripts = {
                name: client.register_script(getattr(scripts, name)) for name in _SCRIPTS
            }
            reader = InboxReader(
                self.target,
                address,
                scripts.inbox_key(self.node.name),
                max_entry=self.max_entry + 4096,
                budget=max(16 * 1024 * 1024, 2 * self.max_entry),
            )
            await claim(self, first=not self.joined)
            try:
                await reader.connect()
                async with trio.open_nursery() as session:
                    self.session = session
                    await self.globals.reassert()
                    await check(self)
                    session.start_soon(read_inbox, self, reader)
                    session.start_soon(self._beat_forever)
                    if not self.joined:
                        await self._await_memberships()
                        self.joined = True
                        task_status.started()
                    await self._left.wait()
                    session.cancel_scope.cancel()
            finally:
                await reader.aclose()

    async def run_script(self, name: str, keys: list[Any], args: list[Any]) -> Any:
        script = self._scripts[name]
        return await self.guarded(keys, lambda: script(keys=keys, args=args))

    async def guarded(self, keys: list[Any], call: Callable[[], Awaitable[Any]]) -> Any:
        """`call()`; if one of `keys` holds the wrong type (anyone may write
        to Redis), that key is garbage: it goes, and the call is made again."""
        from coredis.exceptions import WrongTypeError

        try:
            return await call()
        except WrongTypeError:
            await self.repair(keys)
            return await call()

    async def repair(self, keys: list[Any]) -> None:
        for key in keys:
            text = key.decode(errors="replace") if isinstance(key, bytes) else str(key)
            wanted = scripts.key_type(text)
            found = await self.client.type(key)
            found = found.decode() if isinstance(found, bytes) else str(found)
            if wanted is not None and found not in (wanted, "none"):
                self.complaints.once(
                    ("type", text),
                    "actors cluster: node %s found %s holding a %s, not a %s; removed it",
                    self.node.name,
                    text,
                    found,
                    wanted,
                )
                await self.client.delete([key])

    async def _await_memberships(self) -> None:
        """Wait (a little: a peer may be dying) until every peer up at join
        has sent its hello, so that once joined, `members` and
        `whereis_global` are the cluster's."""
        self._unsynced = {name for name, peer in self.peers.items() if peer.up and not peer.hidden}
        if not self._unsynced or not self.sync_groups:
            return
        self._synced = trio.Event()
        with trio.move_on_after(self.heartbeat * (self.missed + 1)):
            await self._synced.wait()
        self._unsynced.clear()

    def synced_from(self, name: str) -> None:
        """A peer's hello arrived."""
        if name in self._unsynced:
            self._unsynced.discard(name)
            if not self._unsynced:
                self._synced.set()

    def ttl_ms(self) -> int:
        return max(1, math.ceil(self.heartbeat * self.missed * 1000))

    async def _beat_forever(self) -> None:
        while True:
            await trio.sleep(self.heartbeat)
            async with self._beating:  # `leave` waits for a beat in flight
                if self._leave_started:
                    return
                await beat_once(self)
            await check(self)

    # -- connections ---------------------------------------------------------------------

    def connect(self, peer: Peer) -> None:
        """Open this node's half of the connection: a new epoch, whose
        first entry holds the hello."""
        assert self.session is not None
        peer.epoch += 1
        peer.seq = 0
        peer.ticked = 0
        peer.clear()
        peer.up = True
        for proxy in [*peer.proxies.values(), *peer.names.values()]:
            proxy.alive = True
        # A dict, so that a later version can say more and this one still
        # understands what it knows (a rolling deploy mixes the two).
        peer.control(
            "hello",
            _entries.VERSION,
            {
                "hidden": self.hidden,
                "groups": _snapshot(self.node.groups),
                "names": self.globals.owned_list(),
                "stream_maxlen": self.stream_maxlen,
            },
        )
        logger.info("actors cluster: node %s sees %s up", self.node.name, peer.name)
        for event in self.up_waiters.pop(peer.name, ()):
            event.set()
        self.session.start_soon(self._send_to, peer, peer.epoch)

    def disconnect(self, peer: Peer, why: str, reconnect: bool = True) -> None:
        """End the connection with `peer` on this side: its links, monitors,
        node monitors and calls get "noconnection", as Erlang's do when a
        connection drops; its groups and names leave the replicas. With
        `reconnect`, connect again at once if it is alive."""
        was_on = peer.up or peer.in_open
        if peer.drained is not None:
            peer.drained.set()
        peer.up = False
        peer.in_open = False
        if peer.scope is not None:
            peer.scope.cancel()
            peer.scope = None
        peer.clear()
        peer.groups.clear()
        self.globals.node_down(peer.name)
        for proxy in [*peer.proxies.values(), *peer.names.values()]:
            _cut(proxy)
        watchers = self.node_watchers.pop(peer.name, {})
        for proc, count in watchers.items():
            for _ in range(count):
                proc.deliver(NodeDown(peer.name))
        if was_on:
            log = logger.info if why in ("it left", "this node left") else logger.warning
            log("actors cluster: node %s sees %s down: %s", self.node.name, peer.name, why)
        if reconnect and peer.alive and not peer.ended and self.session is not None:
            self.connect(peer)

    def disconnect_all(self, why: str) -> None:
        for peer in list(self.peers.values()):
            if peer.up or peer.in_open:
                self.disconnect(peer, why, reconnect=False)

    def new_life(self, peer: Peer, creation: int) -> Peer:
        """`peer`'s node restarted: its old life is over (its Pids dead for
        good); a fresh Peer stands for the new one."""
        if peer.up or peer.in_open:
            self.disconnect(peer, "it restarted", reconnect=False)
        peer.ended = True
        fresh = self.peers[peer.name] = Peer(self, peer.name, creation)
        return fresh

    def peer_left(self, peer: Peer) -> None:
        """A peer said bye: it ends now, and this life never comes back."""
        peer.ended = True
        peer.alive = False
        self.disconnect(peer, "it left", reconnect=False)

    async def _send_to(self, peer: Peer, epoch: int) -> None:
        """The sender task of one connection: what is queued goes out as
        signed entries; a tick when asked, so that a lost tail shows."""
        head = _entries.Head(
            _entries.VERSION, self.node.name, self.creation, peer.name, peer.creation, epoch, 0
        )
        keys = [scripts.inbox_key(peer.name), scripts.node_key(peer.name)]
        batch_bytes = min(_BATCH_BYTES, self.max_entry)
        assert self.address is not None
        writer = EntryWriter(self.target, self.address, scripts.SEND)
        with trio.CancelScope() as scope:
            peer.scope = scope
            try:
                await writer.connect()
                await self._send_entries(peer, epoch, head, keys, batch_bytes, writer)
            finally:
                await writer.aclose()

    async def _send_entries(
        self,
        peer: Peer,
        epoch: int,
        head: _entries.Head,
        keys: list[str],
        batch_bytes: int,
        writer: EntryWriter,
    ) -> None:
        """`_send_to`'s loop, on its connection."""
        words = [key.encode() for key in keys]
        while peer.up and peer.epoch == epoch:
            if peer.overflow is not None:  # back at the next heartbeat, not at once
                self.disconnect(peer, peer.overflow, reconnect=False)
                return
            if not peer.outbox and not peer.tick:
                if peer.drained is not None:
                    peer.drained.set()
                peer.wake = trio.Event()
                await peer.wake.wait()
                continue
            frames = peer.take(batch_bytes, _BATCH) if peer.outbox else []
            peer.tick = False
            entry = _entries.pack(self.key, head._replace(seq=peer.seq), frames)
            peer.seq += 1
            if not frames:
                peer.ticked = peer.seq
            args = [b"%d" % peer.inbox_bound, entry]
            try:
                got = await writer.run(words, args)
            except RedisReplyError as exc:
                if not str(exc).startswith("WRONGTYPE"):
                    raise
                await self.repair(keys)  # anyone may write to Redis: garbage goes
                got = await writer.run(words, args)
            if peer.epoch != epoch:
                return
            if got == -1:
                peer.alive = False
                self.disconnect(peer, "it is gone (its heartbeat lapsed)", reconnect=False)
                return
            if got == 0:  # back at the next heartbeat, if its inbox has room
                self.disconnect(
                    peer,
                    f"its inbox is full (stream_maxlen {peer.inbox_bound}): it reads too slowly",
                    reconnect=False,
                )
                return

    # -- the inbox -----------------------------------------------------------------------------

    # -- leaving -----------------------------------------------------------------------------

    async def leave(self) -> None:
        """End cleanly: what is queued goes out, each peer gets a bye, and
        our keys go, so the others see us leave now and our name is free.
        Called once the node's processes have ended."""
        self._leave_started = True
        try:
            if self.session is not None and self.client is not None:
                with trio.move_on_after(max(1.0, 2 * self.heartbeat)):
                    for peer in self.peers.values():
                        if peer.up:
                            peer.control("bye")
                    for peer in list(self.peers.values()):
                        while peer.up and (peer.outbox or peer.scope is None):
                            drained = peer.drained = trio.Event()
                            peer.wake.set()
                            await drained.wait()
                        peer.drained = None
                name = self.node.name
                with trio.move_on_after(max(1.0, 2 * self.heartbeat)):
                    async with self._beating:  # our key holds what we wrote last
                        await self.run_script(
                            "LEAVE",
                            [
                                scripts.node_key(name),
                                scripts.NODES,
                                scripts.inbox_key(name),
                                scripts.owned_key(name),
                            ],
                            [self.beat_written, name, self.creation],
                        )
        except Exception as exc:
            logger.warning(
                "actors cluster: node %s could not leave cleanly: %s (its key expires in %d ms)",
                self.node.name,
                _describe(exc),
                self.ttl_ms(),
            )
        finally:
            self._left.set()
            self.stop()

    def stop(self) -> None:
        """End the cluster's task (after `leave`, or if the join never ended)."""
        self._leave_started = True
        self._scope.cancel()


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return text or type(exc).__name__


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


def _cut(proxy: RemoteProcess) -> None:
    """A proxy whose node's connection dropped: its links and monitors end
    with "noconnection"; it stays, and works again once connected."""
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
