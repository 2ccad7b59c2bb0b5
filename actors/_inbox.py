"""A node's inbox: reading it, and checking each entry before its frames
run.

One task reads the inbox (`_redis_reader`, bounded in memory) and trims
what it has read. Each entry is checked for its signature, its receiver
(this life of this node), its sender's life, and its place in the sender's
connection (`_peer` says what a connection is): a replayed or reordered
entry is dropped and logged; a gap ends the connection; a new epoch while
the old one was on means the sender ended it, so this side ends too. Then
each frame runs on its own: one that fails to decode is logged with its
sender and dropped alone.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Final

import trio

from . import _cluster_inbound, _entries
from . import _cluster_scripts as scripts
from ._peer import Peer
from ._redis_reader import InboxReader, RedisReplyError
from ._wire import FrameReader, WireError

if TYPE_CHECKING:
    from ._cluster import Cluster

__all__ = ["accept", "read_inbox"]

logger = logging.getLogger("actors")

_READ_COUNT: Final = 64  # entries per XREAD at most
_FRAME: Final = _entries.FRAME.unpack_from
_NUMBER: Final = _entries.NUMBER.unpack_from
_SEND: Final = _entries.SEND
_SEND_NAME: Final = _entries.SEND_NAME
_BLOCK_MS: Final = 5_000


async def read_inbox(cluster: Cluster, reader: InboxReader) -> None:
    trim: bytes | None = None
    inbox = scripts.inbox_key(cluster.node.name)
    while True:
        try:
            with trio.fail_after(_BLOCK_MS / 1000 + 10):
                entries = await reader.read(cluster.read_from, _READ_COUNT, _BLOCK_MS, trim)
        except RedisReplyError as exc:
            if "WRONGTYPE" not in str(exc):
                raise
            await cluster.repair([inbox])
            continue
        trim = None
        for entry in entries:
            cluster.read_from = entry.id
            if entry.data is None:
                cluster.complaints.once(
                    ("big",),
                    "actors cluster: node %s skipped an inbox entry of %d bytes"
                    " (more than max_entry %d, or not an entry)",
                    cluster.node.name,
                    entry.size,
                    cluster.max_entry,
                )
                continue
            accept(cluster, entry.data)
        if entries:
            trim = cluster.read_from


def accept(cluster: Cluster, data: bytes) -> None:
    """Check one entry: signature, receiver, sender's life, connection
    and place in it; then run its frames in order, each on its own."""
    me = cluster.node.name
    try:
        head, offset = _entries.unpack(cluster.key, data)
    except WireError as exc:
        cluster.complaints.once(
            ("entry", str(exc)), "actors cluster: node %s dropped an inbox entry: %s", me, exc
        )
        return
    if head.receiver != me or head.receiver_creation != cluster.creation:
        return  # for an earlier life of this node, or copied from another inbox
    if head.sender == me:
        return
    peer = cluster.peers.get(head.sender)
    if peer is None or head.sender_creation > peer.creation:
        peer = cluster.peer_for(head.sender, head.sender_creation)
    if head.sender_creation != peer.creation or peer.ended:
        return  # from an earlier life of that node, or one that left
    if head.epoch == peer.in_epoch and peer.in_open:
        if head.seq != peer.in_seq:
            if head.seq < peer.in_seq:
                cluster.complaints.once(
                    ("replay", head.sender, head.epoch, head.seq),
                    "actors cluster: node %s dropped an entry from %s, replayed or out of"
                    " order (number %d, expected %d)",
                    me,
                    head.sender,
                    head.seq,
                    peer.in_seq,
                )
                return
            cluster.disconnect(peer, f"entries {peer.in_seq} to {head.seq - 1} from it were lost")
            return
    elif head.epoch > peer.in_epoch:
        if peer.in_open:  # it ended the connection we thought on: end ours
            cluster.disconnect(peer, "it ended the connection")
        peer.in_epoch = head.epoch
        if head.seq != 0:
            cluster.disconnect(peer, f"the start of its connection {head.epoch} was lost")
            return
        peer.in_open = True
        peer.in_seq = 0
        if not peer.up and cluster.session is not None:
            peer.alive = True
            peer.beat_at = trio.current_time()
            cluster.connect(peer)
    else:
        return  # an earlier connection's, ended already
    peer.in_seq = head.seq + 1
    values = cluster.decoder.frames(data)
    value = values.value
    procs = cluster.node.procs
    names_seen: dict[bytes, str | None] = {}
    try:
        # _entries.frames, inline: this loop runs once a message.
        end_all = len(data)
        while offset < end_all:
            if offset + 5 > end_all:
                _cut_wrong("a truncated frame")
            length, kind = _FRAME(data, offset)
            start = offset + 5
            offset = start + length
            if offset > end_all:
                _cut_wrong("a frame runs past its entry")
            if kind == _SEND and length >= 8:
                proc = procs.get(_NUMBER(data, start)[0])
                if proc is None:
                    continue  # a message to a dead process is dropped, as in Erlang
                try:
                    proc.deliver(value(start + 8, offset))
                except WireError as exc:
                    _dropped(cluster, peer, exc)
            elif not peer.in_open:
                return  # a frame ended the connection (a bye)
            elif kind == _SEND_NAME and length:  # inline too: `(name, node) ! msg`
                size = data[start]
                at = start + 1 + size
                if at > offset:
                    _cut_wrong("a truncated name")
                name = names_seen.get(data[start:at])
                if name is None:
                    name = _name(cluster, peer, data, start, at, names_seen)
                proc = cluster.node.names.get(name) if name is not None else None
                if proc is not None:
                    try:
                        proc.deliver(value(at, offset))
                    except WireError as exc:
                        _dropped(cluster, peer, exc)
            else:
                run_frame(cluster, peer, kind, values, start, offset)
    except WireError as exc:  # a signed entry cut wrong: the sender's bug
        logger.error(  # noqa: TRY400 - a bad entry, not a bug of ours: no traceback
            "actors cluster: node %s dropped the rest of an entry from %s: %s",
            me,
            peer.name,
            exc,
        )


def _name(
    cluster: Cluster, peer: Peer, data: bytes, start: int, at: int, seen: dict[bytes, str | None]
) -> str | None:
    """The name in a SEND_NAME frame (kept for the rest of its entry);
    None, logged, if it is not UTF-8."""
    key = data[start:at]
    try:
        name: str | None = key[1:].decode()
    except UnicodeDecodeError:
        _dropped(cluster, peer, WireError("a name that is not UTF-8"))
        name = None
    seen[key] = name
    return name


def _cut_wrong(why: str) -> None:
    raise WireError(why)


def run_frame(
    cluster: Cluster, peer: Peer, kind: int, values: FrameReader, start: int, end: int
) -> None:
    """A control frame, on its own: one that fails is logged with its
    sender and dropped alone."""
    try:
        if kind == _entries.CONTROL:
            _cluster_inbound.handle(cluster, peer, values.value(start, end))
        else:
            cluster.complaints.once(
                ("kind", peer.name, kind),
                "actors cluster: node %s dropped a frame of unknown kind %d from %s",
                cluster.node.name,
                kind,
                peer.name,
            )
    except WireError as exc:
        _dropped(cluster, peer, exc)
    except Exception:
        logger.exception("actors cluster: a message from %s failed", peer.name)


def _dropped(cluster: Cluster, peer: Peer, exc: WireError) -> None:
    cluster.complaints.once(
        ("frame", peer.name, str(exc)),
        "actors cluster: node %s dropped a message from %s: %s",
        cluster.node.name,
        peer.name,
        exc,
    )
