"""Global names: one owner per name in the whole cluster (OTP's `global`).

Redis decides who owns a name: a script sets its key only if no one holds
it, so of two nodes that register one name at once exactly one wins. Each
registration is stamped with Redis's clock and signed. Every node keeps a
replica (name -> Pid, with the stamp), so `whereis_global` is a dict
lookup: the winner tells every peer, and each connection's hello carries
the names its node holds.

A name is freed when its owner dies or unregisters it, when its node
leaves, and when its node is swept after its heartbeat lapsed. A node that
was cut off (a stall, a Redis restart) and comes back asserts its names
again: one that meanwhile went to another process goes to the registration
made first; the other process is unregistered and sent
`("global_name_conflict", name, winner)`. Every node applies the same rule
to its replica, so all of them agree once connected.
"""

from __future__ import annotations

import hashlib
import logging
import pickle
from typing import TYPE_CHECKING, Any, NamedTuple

import trio

from . import _cluster_scripts as scripts
from . import _entries
from ._ids import Pid
from ._wire import WireError, register_tag

if TYPE_CHECKING:
    from ._cluster import Cluster
    from ._process import Process

__all__ = ["Global", "GlobalNames", "Holder"]

logger = logging.getLogger("actors")


class Global(NamedTuple):
    """A global name as a destination: `send(Global("db"), msg)`,
    `call(Global("db"), request)` (OTP's `{global, Name}`)."""

    name: object


class Holder(NamedTuple):
    """Who holds a name, and since when: the order of two registrations is
    (stamp, node, pid number), the same on every node."""

    pid: Pid
    stamp: int

    def before(self, other: Holder) -> bool:
        mine = (self.stamp, self.pid.node, self.pid._creation, self.pid._number)
        theirs = (other.stamp, other.pid.node, other.pid._creation, other.pid._number)
        return mine < theirs


register_tag("Global", Global)


def name_key(name: object) -> str:
    digest = hashlib.sha256(pickle.dumps(name, protocol=4)).hexdigest()
    return scripts.global_key(digest)


class GlobalNames:
    """This node's replica of the global names, and its own."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.replica: dict[object, Pid] = {}
        self.holders: dict[object, Holder] = {}
        self.owned: dict[object, Process] = {}
        self._values: dict[object, bytes] = {}  # what our key for each owned name holds
        self._by_owner: dict[Process, set[object]] = {}
        self._releasing: dict[object, trio.Event] = {}  # freed by a death, not yet in Redis

    # -- this node's own names --------------------------------------------------------

    async def register(self, name: object, proc: Process) -> bool:
        releasing = self._releasing.get(name)
        if releasing is not None:  # its owner here just died: let Redis know first
            await releasing.wait()
        cluster = self.cluster
        client = self._client()
        stamp = _micros(await client.time())
        value = self._value(name, proc.pid, stamp)
        key = name_key(name)
        got = await cluster.run_script(
            "GLOBAL_REGISTER", [key, scripts.owned_key(cluster.node.name)], [value]
        )
        if got == 1:
            if not proc.alive:  # died meanwhile: give the name back
                await self._release(client, key)
                return False
            self._own(name, proc, value, stamp)
            return True
        holder = self._parse(got)
        if holder is None or self._is_stale(holder):
            # Garbage (anyone may write to Redis), or an earlier life of a
            # node, whose names died with it.
            taken = await cluster.run_script(
                "GLOBAL_TAKE", [key, scripts.owned_key(cluster.node.name)], [got, value]
            )
            if taken == 1 and proc.alive:
                self._own(name, proc, value, stamp)
                return True
        elif holder is not None and holder.pid._proc is not None and holder.pid._proc.alive:
            self.set(name, holder.pid, holder.stamp)  # before its node's word comes
        return False

    def _own(self, name: object, proc: Process, value: bytes, stamp: int) -> None:
        self.owned[name] = proc
        self._values[name] = value
        self._by_owner.setdefault(proc, set()).add(name)
        self.replica[name] = proc.pid
        self.holders[name] = Holder(proc.pid, stamp)
        for peer in self.cluster.peers.values():
            if peer.up:
                peer.control("global_set", name, proc.pid, stamp)

    def owned_list(self) -> list[tuple[object, Pid, int]]:
        """What a hello says: the names this node holds."""
        return [(name, proc.pid, self.holders[name].stamp) for name, proc in self.owned.items()]

    async def unregister(self, name: object) -> None:
        proc = self.owned.get(name)
        if proc is None:
            return
        self._forget_owned(name, proc)
        await self._release(self._client(), name_key(name))
        self._announce_gone(name, proc.pid)

    def owner_exited(self, proc: Process) -> None:
        """The owner of names died: free them in Redis, then tell the peers
        (so a peer that hears of it can register the name at once)."""
        names = self._by_owner.pop(proc, None)
        if not names:
            return
        for name in names:
            self.owned.pop(name, None)
            self._values.pop(name, None)
            if self.replica.get(name) == proc.pid:
                del self.replica[name]
                self.holders.pop(name, None)
        session, client = self.cluster.session, self.cluster.client
        if session is None or client is None:
            return  # not connected: `reassert` frees them once back
        for name in names:
            done = self._releasing[name] = trio.Event()
            session.start_soon(self._release_then_announce, client, name, proc.pid, done)

    async def _release_then_announce(
        self, client: Any, name: object, pid: Pid, done: trio.Event
    ) -> None:
        try:
            await self._release(client, name_key(name))
            self._announce_gone(name, pid)
        finally:
            if self._releasing.get(name) is done:
                del self._releasing[name]
            done.set()

    def _forget_owned(self, name: object, proc: Process) -> None:
        self.owned.pop(name, None)
        self._values.pop(name, None)
        names = self._by_owner.get(proc)
        if names is not None:
            names.discard(name)
            if not names:
                del self._by_owner[proc]

    def _announce_gone(self, name: object, pid: Pid) -> None:
        if self.replica.get(name) == pid:
            del self.replica[name]
            self.holders.pop(name, None)
        for peer in self.cluster.peers.values():
            if peer.up:
                peer.control("global_del", name, pid)

    async def _release(self, client: Any, key: str) -> None:
        cluster = self.cluster
        prefix = f"{cluster.node.name}|{cluster.creation}|"
        await cluster.run_script(
            "GLOBAL_RELEASE", [key, scripts.owned_key(cluster.node.name)], [prefix]
        )

    async def release_earlier_lives(self) -> None:
        """At the first join: names our name's earlier lives left behind
        (it was killed, and restarted before anyone swept it)."""
        cluster = self.cluster
        name = cluster.node.name
        owned = scripts.owned_key(name)
        for key in await cluster.guarded([owned], lambda: cluster.client.smembers(owned)):
            await cluster.run_script("GLOBAL_RELEASE", [key, scripts.owned_key(name)], [f"{name}|"])

    async def reassert(self) -> None:
        """After this node was cut off: put our names back in Redis. A name
        that another process took meanwhile goes to the earlier of the two
        registrations; our keys of names we no longer hold go."""
        cluster = self.cluster
        me = cluster.node.name
        owned_set = scripts.owned_key(me)
        for name, proc in list(self.owned.items()):
            key, value = name_key(name), self._values[name]
            got = await cluster.run_script("GLOBAL_TAKE", [key, owned_set], [b"", value])
            if got == 1 or got == value:
                continue
            holder = self._parse(got)
            mine = self.holders[name]
            if holder is None or self._is_stale(holder) or mine.before(holder):
                await cluster.run_script("GLOBAL_TAKE", [key, owned_set], [got, value])
            else:
                self._lose(name, proc, holder)
        wanted = {name_key(name) for name in self.owned}
        for key in await cluster.guarded([owned_set], lambda: cluster.client.smembers(owned_set)):
            text = key.decode() if isinstance(key, bytes) else str(key)
            if text not in wanted:
                await self._release(cluster.client, text)

    def _lose(self, name: object, proc: Process, winner: Holder) -> None:
        """Our registration of `name` came after `winner`'s: ours goes."""
        self._forget_owned(name, proc)
        names = self._by_owner.get(proc)
        if names is not None:
            names.discard(name)
        self.replica[name] = winner.pid
        self.holders[name] = winner
        logger.warning(
            "actors cluster: global name %r stays with %r, registered first; %r loses it",
            name,
            winner.pid,
            proc.pid,
        )
        proc.deliver(("global_name_conflict", name, winner.pid))

    # -- what peers say ------------------------------------------------------------------

    def node_down(self, node: str) -> None:
        for name, pid in list(self.replica.items()):
            if pid.node == node:
                del self.replica[name]
                self.holders.pop(name, None)

    def set(self, name: object, pid: Pid, stamp: int) -> None:
        """A peer holds `name` (it registered it, or says so in its hello).
        Of two holders, the earlier registration keeps it, here as on every
        node; if the later one is ours, it is unregistered and told."""
        theirs = Holder(pid, stamp)
        mine = self.owned.get(name)
        if mine is not None and mine.pid != pid:
            if self.holders[name].before(theirs):
                return  # ours stays; the peer applies the same rule
            self._lose(name, mine, theirs)
            return
        known = self.holders.get(name)
        if known is not None and known.pid != pid and known.before(theirs):
            return
        self.replica[name] = pid
        self.holders[name] = theirs

    def delete(self, name: object, pid: Pid) -> None:
        if self.replica.get(name) == pid:
            del self.replica[name]
            self.holders.pop(name, None)

    # -- values in Redis -------------------------------------------------------------------

    def _value(self, name: object, pid: Pid, stamp: int) -> bytes:
        cluster = self.cluster
        sealed = _entries.seal(cluster.key, cluster.encoder.encode((name, pid, stamp)))
        return f"{pid.node}|{pid._creation}|{stamp}|".encode() + sealed

    def _parse(self, value: Any) -> Holder | None:
        """Who a name's value in Redis names, if it is signed and whole."""
        if not isinstance(value, bytes):
            return None
        parts = value.split(b"|", 3)
        if len(parts) != 4:
            return None
        try:
            _, pid, stamp = self.cluster.decoder.decode(_entries.unseal(self.cluster.key, parts[3]))
        except (WireError, TypeError, ValueError) as exc:
            self.cluster.complaints.once(
                ("global", value[:40]),
                "actors cluster: a global name's value in Redis failed its check: %s",
                exc,
            )
            return None
        if type(pid) is not Pid or type(stamp) is not int:
            return None
        return Holder(pid, stamp)

    def _is_stale(self, holder: Holder) -> bool:
        """A holder of an earlier life of its node, or of ours."""
        cluster = self.cluster
        if holder.pid.node == cluster.node.name:
            return holder.pid._creation != cluster.creation or holder.pid._proc is None
        peer = cluster.peers.get(holder.pid.node)
        return peer is not None and peer.creation > holder.pid._creation

    def _client(self) -> Any:
        client = self.cluster.client
        if client is None or self.cluster.session is None:
            raise ConnectionError("this node is not connected to its cluster now")
        return client


def _micros(when: Any) -> int:
    """coredis's TIME answer (a datetime) in microseconds."""
    return int(when.timestamp() * 1_000_000)
