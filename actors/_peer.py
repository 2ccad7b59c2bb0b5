"""Another node, as this one sees it: one life of it (its creation), the
connection with it, and the outbox of frames waiting to go there.

A connection is Erlang's distribution connection made of two halves, one
per direction. This node's half is its epoch: each connect takes a new
one, and every entry sent on it carries the epoch and a sequence number
that starts at 0 with a hello. The other half is the peer's epoch as this
node accepted it. Either side may end the connection (a gap, an overflow,
the peer's heartbeat gone); it then connects anew with the next epoch,
and the other side, seeing a new epoch while it thought the old one on,
ends its own side too: a disconnect is always seen on both sides, and
what was lost with it is what the links and monitors it ended report.

`post` never blocks: frames wait in the outbox, bounded in count and in
bytes; past either bound the connection is ended (by the sender task, not
inside the caller's `send`), never a silent drop of one message.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from weakref import WeakValueDictionary

import trio

from ._entries import control_frame, send_frame, send_name_frame
from ._ids import Pid
from ._remote import RemoteName, RemoteProcess
from ._wire import sanitize_reason

if TYPE_CHECKING:
    from ._cluster import Cluster

__all__ = ["Peer"]


class Peer:
    """One other node. `creation` names its life; `up` says this node's
    half of the connection is on."""

    name: str

    def __init__(self, cluster: Cluster, name: str, creation: int) -> None:
        self.cluster = cluster
        self._encode = cluster.encoder.encode
        self._max_entry = cluster.max_entry
        self._max_outbox = cluster.max_outbox
        self._max_outbox_bytes = cluster.max_outbox_bytes
        self.name = name
        self.creation = creation
        self.up = False
        self.hidden = False  # a hidden node: not in nodes(), never waited for
        self.ended = False  # this life left (a bye) or was replaced: never reconnected
        # this node's half
        self.epoch = 0
        self.seq = 0  # the next entry's number
        self.ticked = 0  # seq when the last tick was asked for
        self.tick = False  # send an entry even if there is nothing to send
        self.outbox: list[bytes] = []
        self.outbox_bytes = 0
        self.overflow: str | None = None  # why the outbox refused a frame
        self.wake = trio.Event()
        self.drained: trio.Event | None = None  # set once the outbox is out (leaving)
        self.scope: trio.CancelScope | None = None  # its sender task's
        # the peer's half, as accepted here
        self.in_epoch = 0
        self.in_seq = 0
        self.in_open = False
        self.inbox_bound = cluster.stream_maxlen  # its own, once its hello says it
        # its heartbeat, as last read
        self.beat = -1
        self.beat_at = 0.0
        self.alive = False  # a valid, fresh heartbeat of this life was read
        self.ttl = cluster.heartbeat * cluster.missed  # its own key's TTL, once read
        # processes and names of it that this node holds, and its pg replica
        self.proxies: WeakValueDictionary[int, RemoteProcess] = WeakValueDictionary()
        self.names: dict[object, RemoteName] = {}
        self.groups: dict[object, dict[Pid, int]] = {}

    def __repr__(self) -> str:
        state = "up" if self.up else "down"
        return f"<Peer {self.name} creation={self.creation} {state} epoch={self.epoch}>"

    # -- what goes there -------------------------------------------------------------

    def send(self, number: int, msg: Any) -> None:
        """Queue `msg` for its process `number`. `TypeError` if it cannot
        travel, `ValueError` if it is bigger than `max_entry`: raised to
        the sender, never a silent drop. (The hot path of a remote send:
        `post`'s work is done here, in one call.)"""
        if not self.up:
            return
        data = self._bounded(msg)
        size = len(data)
        if self.overflow is not None:
            return
        outbox = self.outbox
        total = self.outbox_bytes + size + 13
        if len(outbox) >= self._max_outbox or total > self._max_outbox_bytes:
            self._overflowed()
            return
        outbox.append(send_frame(number, data))
        self.outbox_bytes = total
        if len(outbox) == 1:
            self.wake.set()

    def _bounded(self, msg: Any) -> bytes:
        """`msg` encoded; `ValueError` to the sender if it is bigger than
        `max_entry`, never a silent drop."""
        data = self._encode(msg)
        if len(data) > self._max_entry:
            raise ValueError(
                f"a message of {len(data)} bytes cannot go to node {self.name}:"
                f" more than max_entry ({self._max_entry})"
            )
        return data

    def send_name(self, name: object, prefix: bytes | None, msg: Any) -> None:
        """Queue `msg` for the process registered as `name` there (`(name,
        node)` as a destination): a str name travels before the message, as
        `prefix` (`name_prefix`); any other name in a control request."""
        if not self.up:
            return
        if prefix is None:
            self.control("send_name", name, msg)
            return
        self.post(send_name_frame(prefix, self._bounded(msg)))

    def control(self, *request: Any, lenient: bool = False) -> None:
        """Queue a control request (a link, a monitor, a reply...).
        `TypeError` if a part cannot travel; with `lenient` (exit reasons,
        which the node sends on its own), that part goes as a `RemoteError`
        naming it instead."""
        if not self.up:
            return
        encoder = self.cluster.encoder
        try:
            data = encoder.encode(request)
        except TypeError as exc:
            if not lenient:
                raise
            data = encoder.encode(tuple(_travelling(part, exc) for part in request))
        if len(data) > self.cluster.max_entry:
            raise ValueError(
                f"a {request[0]} of {len(data)} bytes cannot go to node {self.name}:"
                f" more than max_entry ({self.cluster.max_entry})"
            )
        self.post(control_frame(data))

    def post(self, frame: bytes) -> None:
        """Queue one frame; never blocks. Past the outbox's bounds the
        connection is to end: the sender task ends it."""
        if self.overflow is not None:
            return
        outbox = self.outbox
        size = self.outbox_bytes + len(frame)
        if len(outbox) >= self._max_outbox or size > self._max_outbox_bytes:
            self._overflowed()
            return
        outbox.append(frame)
        self.outbox_bytes = size
        if len(outbox) == 1:
            self.wake.set()

    def _overflowed(self) -> None:
        self.overflow = (
            f"its outbox is full ({len(self.outbox)} messages, {self.outbox_bytes} bytes;"
            f" max_outbox {self._max_outbox}, max_outbox_bytes {self._max_outbox_bytes})"
        )
        self.wake.set()

    def take(self, max_bytes: int, max_frames: int) -> list[bytes]:
        """The oldest frames, up to `max_bytes` (one at least) and `max_frames`."""
        outbox = self.outbox
        total = 0
        count = 0
        for frame in outbox:
            if count and (total + len(frame) > max_bytes or count >= max_frames):
                break
            total += len(frame)
            count += 1
        batch = outbox[:count]
        del outbox[:count]
        self.outbox_bytes -= total
        return batch

    def clear(self) -> None:
        self.outbox.clear()
        self.outbox_bytes = 0
        self.overflow = None

    # -- its processes, as this node holds them -------------------------------------

    def proxy(self, number: int) -> RemoteProcess:
        """The one proxy of this node's process `number` in this life."""
        proc = self.proxies.get(number)
        if proc is None:
            proc = RemoteProcess(self, Pid(self.name, number, None, self.creation))
            proc.pid._proc = proc
            proc.alive = self.up
            self.proxies[number] = proc
        return proc

    def name_proxy(self, name: object) -> RemoteName:
        proxy = self.names.get(name)
        if proxy is None:
            proxy = self.names[name] = RemoteName(self, name)
            proxy.alive = self.up
        return proxy


def _travelling(part: Any, exc: TypeError) -> Any:
    """`part` if it travels, else a RemoteError that names it."""
    try:
        import pickle

        pickle.dumps(part)
    except Exception:
        from ._errors import RemoteError

        return RemoteError(type(part).__qualname__, f"{part!r:.200} ({exc})")
    return sanitize_reason(part)
