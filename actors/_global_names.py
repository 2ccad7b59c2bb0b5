"""Global names: one owner per name in the whole cluster (OTP's `global`).

Redis decides who owns a name: `SET actors:global:<hash> ... NX`, so of two
nodes that register one name at once exactly one wins. Every node keeps a
replica (name -> Pid), so `whereis_global` is a dict lookup: the winner
tells every peer, the loser reads the winner from Redis. A name is freed
when its owner dies or unregisters it, and when its node goes down (each
node keeps the set of keys it owns, `actors:globals:<node>`, which whoever
buries that node deletes, each key only if that node still owns it).
"""

from __future__ import annotations

import hashlib
import logging
import pickle
from typing import TYPE_CHECKING, Any, Final, NamedTuple

import trio

from . import _wire
from ._ids import Pid

if TYPE_CHECKING:
    from ._cluster import Cluster
    from ._process import Process

__all__ = ["Global", "GlobalNames"]

logger = logging.getLogger("actors")


class Global(NamedTuple):
    """A global name as a destination: `send(Global("db"), msg)`,
    `call(Global("db"), request)` (OTP's `{global, Name}`)."""

    name: object


def global_key(name: object) -> str:
    digest = hashlib.sha256(pickle.dumps(name, protocol=4)).hexdigest()
    return f"actors:global:{digest}"


def owned_key(node: str) -> str:
    return f"actors:globals:{node}"


class GlobalNames:
    """This node's replica of the global names, and its own."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.replica: dict[object, Pid] = {}
        self.owned: dict[object, Process] = {}
        self._by_owner: dict[Process, set[object]] = {}
        self._releasing: dict[object, trio.Event] = {}  # freed by a death, not yet in Redis

    def clear(self) -> None:
        self.replica.clear()
        self.owned.clear()
        self._by_owner.clear()

    def _prefix(self, node: str, creation: int) -> str:
        return f"{node}|{creation}|"

    async def register(self, name: object, proc: Process) -> bool:
        import coredis

        releasing = self._releasing.get(name)
        if releasing is not None:  # its owner here just died: let Redis know first
            await releasing.wait()
        client = self._client()
        cluster = self.cluster
        key = global_key(name)
        prefix = self._prefix(cluster.node.name, cluster.node.creation).encode()
        value = prefix + _wire.encode(cluster.key, (name, proc.pid))
        if await client.set(key, value, condition=coredis.PureToken.NX):
            if not proc.alive:  # died meanwhile: give the name back
                await client.eval(_DEL_PREFIX, [key], [prefix])
                return False
            await client.sadd(owned_key(cluster.node.name), [key])
            self.owned[name] = proc
            self._by_owner.setdefault(proc, set()).add(name)
            self.replica[name] = proc.pid
            for peer in cluster.peers.values():
                if peer.up:
                    peer.post(("global_set", name, proc.pid))
            return True
        await self._read(client, key)
        return False

    async def unregister(self, name: object) -> None:
        proc = self.owned.get(name)
        if proc is None:
            return
        self._forget_owned(name, proc)
        await self._release(self._client(), name)
        self._announce_gone(name, proc.pid)

    def owner_exited(self, proc: Process) -> None:
        """The owner of names died: free them in Redis, then tell the peers
        (so a peer that hears of it can register the name at once)."""
        names = self._by_owner.pop(proc, None)
        if not names:
            return
        for name in names:
            self.owned.pop(name, None)
            if self.replica.get(name) == proc.pid:
                del self.replica[name]
        nursery, client = self.cluster._nursery, self.cluster._client
        if nursery is None or client is None:
            return  # not connected: our names went with our key's life
        for name in names:
            done = self._releasing[name] = trio.Event()
            nursery.start_soon(self._release_then_announce, client, name, proc.pid, done)

    async def _release_then_announce(
        self, client: Any, name: object, pid: Pid, done: trio.Event
    ) -> None:
        try:
            await self._release(client, name)
            self._announce_gone(name, pid)
        finally:
            if self._releasing.get(name) is done:
                del self._releasing[name]
            done.set()

    def _forget_owned(self, name: object, proc: Process) -> None:
        self.owned.pop(name, None)
        names = self._by_owner.get(proc)
        if names is not None:
            names.discard(name)
            if not names:
                del self._by_owner[proc]

    def _announce_gone(self, name: object, pid: Pid) -> None:
        if self.replica.get(name) == pid:
            del self.replica[name]
        for peer in self.cluster.peers.values():
            if peer.up:
                peer.post(("global_del", name, pid))

    async def _release(self, client: Any, name: object) -> None:
        cluster = self.cluster
        key = global_key(name)
        prefix = self._prefix(cluster.node.name, cluster.node.creation)
        await client.eval(_DEL_PREFIX, [key], [prefix])
        await client.srem(owned_key(cluster.node.name), [key])

    async def release_all(self, client: Any) -> None:
        for name in list(self.owned):
            await self._release(client, name)
        self.clear()

    async def release_node(self, client: Any, node: str) -> None:
        """Free the names of a node that is gone (any creation of it)."""
        keys = await client.smembers(owned_key(node))
        prefix = f"{node}|"
        for key in keys:
            await client.eval(_DEL_PREFIX, [key], [prefix])
        await client.delete([owned_key(node)])

    def node_down(self, node: str) -> None:
        for name, pid in list(self.replica.items()):
            if pid.node == node:
                del self.replica[name]

    def set(self, name: object, pid: Pid) -> None:
        """A peer says it registered `name`."""
        self.replica[name] = pid

    def delete(self, name: object, pid: Pid) -> None:
        if self.replica.get(name) == pid:
            del self.replica[name]

    async def load(self, client: Any) -> None:
        """Fill the replica from Redis (at join)."""
        cursor = None
        while cursor != 0:
            cursor, keys = await client.scan(cursor or 0, match="actors:global:*", count=500)
            for key in keys:
                await self._read(client, key)

    async def _read(self, client: Any, key: Any) -> None:
        value = await client.get(key)
        if value is None:
            return
        parts = value.split(b"|", 2)
        if len(parts) != 3:
            return
        try:
            name, pid = _wire.decode(self.cluster.key, parts[2], self.cluster.make_pid)
        except _wire.WireError as exc:
            logger.error("actors cluster: a global name in Redis failed its check: %s", exc)  # noqa: TRY400
            return
        if pid._proc is not None and pid._proc.alive:
            self.replica[name] = pid

    def _client(self) -> Any:
        client = self.cluster._client
        if client is None:
            raise ConnectionError("this node is not connected to its cluster now")
        return client


_DEL_PREFIX: Final = """
local value = redis.call('get', KEYS[1])
if value and string.sub(value, 1, #ARGV[1]) == ARGV[1] then
  return redis.call('del', KEYS[1])
end
return 0
"""
