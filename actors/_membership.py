"""A node's place in the cluster, by heartbeats: taking its name, keeping
it, and reading the others'.

Every `heartbeat` seconds a node rewrites its key (`_beats`), only if it
still holds the value written last: otherwise the node was taken for down
(it stalled past its TTL, or Redis lost the key), and it ends its side of
every connection before it takes its name again. Then it reads the others'
keys: a key gone, forged, or no longer advancing within its own TTL is a
node down; a key of a new creation is that node restarted. A key that is
gone is swept (`BURY`), unless its node came back meanwhile.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import trio

from . import _cluster_scripts as scripts
from ._beats import Beat, beat_value, parse_beat
from ._errors import ClusterError
from ._peer import Peer

if TYPE_CHECKING:
    from ._cluster import Cluster

__all__ = ["Lost", "beat_once", "check", "claim", "judge_stale", "node_name"]

_MAX_NAME = 255


class Lost(Exception):
    """This node lost its place in the cluster (its name taken meanwhile)."""


async def claim(cluster: Cluster, first: bool) -> None:
    """Take the node's name: at once if it is free or ours; else wait to
    see whether whoever holds it is alive (its beat advances) or dead
    (its key expires). Refused at the first join, retried after; a
    refused start writes nothing."""
    name = cluster.node.name
    if first:  # an earlier life's entries stay unread (and are trimmed)
        inbox = scripts.inbox_key(name)
        last = await cluster.guarded(
            [inbox], lambda: cluster.client.xrevrange(inbox, "+", "-", count=1)
        )
        cluster.read_from = last[0].identifier if last else b"0-0"
    expected: bytes = b""
    holder: Beat | None = None
    waited = 0.0
    while True:
        got = await set_beat(cluster, expected)
        if got == 1:
            return
        if got == 0:
            expected = b""
            continue
        current = parse_beat(cluster.key, name, got)
        if current is None:
            cluster.complaints.once(
                ("claim", got),
                "actors cluster: node %s found its key holding %r, not signed by this"
                " cluster; taking it",
                name,
                _clip(got),
            )
            expected = got
            continue
        if current.creation == cluster.creation:  # ours, from before a loss of Redis
            expected = got
            continue
        if holder is not None and current.number != holder.number:
            message = f"node name {name!r} is taken by a live node of the cluster"
            if first:
                raise ClusterError(message)
            raise Lost(message + " (it was taken while this node was away)")
        # A dead holder's key lapses within its own TTL, which it says.
        if waited > current.ttl_ms / 1000 + cluster.heartbeat:
            message = f"node name {name!r} is held by a node that does not let go"
            if first:
                raise ClusterError(message)
            raise Lost(message)
        holder = current
        expected = b""
        await trio.sleep(cluster.heartbeat / 2)
        waited += cluster.heartbeat / 2


async def set_beat(cluster: Cluster, expected: bytes) -> Any:
    """Write our next heartbeat if our key holds `expected` (b"": none).
    1 if written; else 0 (no key) or what it holds."""
    name = cluster.node.name
    beat = cluster.beat = cluster.beat._replace(number=cluster.beat.number + 1)
    value = beat_value(cluster.key, name, beat)
    got = await cluster.run_script(
        "SET_IF",
        [scripts.node_key(name), scripts.NODES],
        [expected, value, cluster.ttl_ms(), name],
    )
    if got == 1:
        cluster.beat_written = value
    return got


async def beat_once(cluster: Cluster) -> None:
    """Rewrite our key if it still holds what we wrote last. If it is
    gone (we stalled past the TTL, or Redis lost it), the others took
    us for down: end our side of every connection, then come back."""
    name = cluster.node.name
    got = await set_beat(cluster, cluster.beat_written)
    if got == 1:
        for peer in cluster.peers.values():
            if peer.up and peer.seq != peer.ticked:
                peer.ticked = peer.seq
                peer.tick = True  # an empty entry that says how far we came
                peer.wake.set()
        return
    if got != 0 and parse_beat(cluster.key, name, got) is None:
        # Not signed: anyone may write to Redis. Ours again, no one was fooled.
        cluster.complaints.once(
            ("own-beat", got),
            "actors cluster: node %s found its key overwritten with %r; rewriting it",
            name,
            _clip(got),
        )
        if await set_beat(cluster, got) == 1:
            return
    cluster.disconnect_all("this node was taken for down (its heartbeat lapsed)")
    await claim(cluster, first=False)
    await cluster.globals.reassert()


async def check(cluster: Cluster) -> None:
    """Read the other nodes' keys: who came, who went, who restarted."""
    client = cluster.client
    me = cluster.node.name
    members = await cluster.guarded([scripts.NODES], lambda: client.smembers(scripts.NODES))
    names: list[str] = []
    for raw in members:
        other = node_name(raw)
        if other is None:
            cluster.complaints.once(
                ("name", raw),
                "actors cluster: skipped a node name that is not one: %r",
                _clip(raw),
            )
        elif other != me:
            names.append(other)
    for other, known in cluster.peers.items():
        if (known.up or known.in_open) and other not in names:
            names.append(other)
    values = await client.mget([scripts.node_key(n) for n in names]) if names else ()
    now = trio.current_time()
    for other, value in zip(names, values, strict=True):
        peer = cluster.peers.get(other)
        if value is None:
            if peer is not None:
                peer.alive = False
                if peer.up or peer.in_open:
                    cluster.disconnect(peer, "its heartbeat stopped", reconnect=False)
            await cluster.run_script(
                "BURY",
                [
                    scripts.node_key(other),
                    scripts.NODES,
                    scripts.inbox_key(other),
                    scripts.owned_key(other),
                ],
                [other],
            )
            continue
        beat = parse_beat(cluster.key, other, value)
        if beat is None:
            cluster.complaints.once(
                ("beat", other, value),
                "actors cluster: node %s skipped the heartbeat of %s: not signed with"
                " this cluster's cookie: %r",
                me,
                other,
                _clip(value),
            )
            if peer is not None:
                judge_stale(cluster, peer, now)
            continue
        if peer is None:
            peer = cluster.peers[other] = Peer(cluster, other, beat.creation)
        if beat.creation < peer.creation:
            cluster.complaints.once(
                ("old", other, value),
                "actors cluster: node %s skipped a heartbeat of an earlier life of %s",
                me,
                other,
            )
            judge_stale(cluster, peer, now)
            continue
        if beat.creation > peer.creation:
            peer = cluster.new_life(peer, beat.creation)
        if peer.ended:
            continue
        peer.hidden = beat.hidden
        peer.ttl = beat.ttl_ms / 1000
        if beat.number != peer.beat:
            peer.beat, peer.beat_at, peer.alive = beat.number, now, True
        elif judge_stale(cluster, peer, now):
            continue
        if peer.alive and not peer.up and cluster.session is not None:
            cluster.connect(peer)


def judge_stale(cluster: Cluster, peer: Peer, now: float) -> bool:
    """A peer whose valid heartbeat has not advanced for longer than its
    own TTL (and one of our checks) is down, whoever keeps its key."""
    if now - peer.beat_at <= peer.ttl + cluster.heartbeat:
        return False
    peer.alive = False
    if peer.up or peer.in_open:
        cluster.disconnect(peer, "its heartbeat stopped advancing", reconnect=False)
    return True


def node_name(raw: Any) -> str | None:
    """A member of the node set as a name, or None if it is not one."""
    if isinstance(raw, str):
        raw = raw.encode()
    if not isinstance(raw, bytes) or not 0 < len(raw) <= _MAX_NAME:
        return None
    try:
        name = raw.decode()
    except UnicodeDecodeError:
        return None
    return name if name.isprintable() else None


def _clip(value: Any) -> Any:
    return value[:60] if isinstance(value, (bytes, str)) else value
