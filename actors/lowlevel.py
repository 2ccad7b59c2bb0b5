"""What the layers above `actors` need beyond the public API.

As `trio.lowlevel` is to trio: for code that builds servers on processes
(the WebSocket layer uses all of it), not for applications. Everything here
keeps the guarantees of the public API: it never blocks a sync call, and
each async function is a checkpoint that waits for an event, never polls.
"""

from __future__ import annotations

from typing import Any

import trio

from ._api import _process_of
from ._ids import Pid
from ._process import MailboxWatch, Process, current
from ._reasons import is_normal_exit

__all__ = [
    "end_process",
    "group_nodes",
    "in_cluster",
    "is_normal_exit",
    "mailbox_len",
    "wait_idle",
    "wait_mailbox_below",
]


def in_cluster() -> bool:
    """Whether the calling process's node belongs to a cluster."""
    return current("in_cluster").node.cluster is not None


def group_nodes(group: object) -> list[str]:
    """The other nodes of the cluster (up now) where `group` has members,
    from this node's replica: where a layer above sends one message per
    node for that node to fan out (`members(group, local=True)` there).
    Empty outside a cluster."""
    cluster = current("group_nodes").node.cluster
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
    target = _process_of(pid)
    return target.mailbox_len() if target is not None else 0


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
    await _watch(target, MailboxWatch(None))


async def wait_mailbox_below(pid: Pid, limit: int) -> None:
    """Wait until `pid`'s mailbox holds fewer than `limit` messages (or
    `pid` is dead): back-pressure from a process to whatever feeds it."""
    target = _process_of(pid)
    if target is None or target.mailbox_len() < limit:
        await trio.lowlevel.checkpoint()
        return
    await _watch(target, MailboxWatch(limit))


async def _watch(target: Process, watch: MailboxWatch) -> None:
    if target._watches is None:
        target._watches = [watch]
    else:
        target._watches.append(watch)
    try:
        await watch.event.wait()
    finally:
        if not watch.event.is_set() and target._watches is not None:
            target._watches = [w for w in target._watches if w is not watch] or None
