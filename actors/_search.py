"""Where a receive finds its message in a mailbox's deque, and takes it.

A waiting receive remembers how many messages it has scanned; messages only
join at the right end, so the ones it has not scanned are the last
`len - scanned`, and `reversed` reaches them from that end without stepping
over the scanned ones (`actors._process` says why the mailbox is one deque).
"""

from __future__ import annotations

from collections import deque
from itertools import islice
from typing import Any

from ._ids import Down, Ref
from ._patterns import matches_any

__all__ = ["find", "find_answer", "find_fresh", "pop_at"]


def find(queue: deque[Any], patterns: tuple[object, ...]) -> int:
    """The index of the oldest message matching `patterns`, or -1."""
    for index, msg in enumerate(queue):
        if matches_any(patterns, msg):
            return index
    return -1


def find_fresh(queue: deque[Any], patterns: tuple[object, ...], scanned: int) -> int:
    """The index of the oldest match among the messages after the first
    `scanned` ones, or -1.

    `reversed` starts at the deque's right end, so this walks only those
    messages, never the scanned ones before them (`islice(queue, scanned,
    None)` would step over all of those on every wake-up).
    """
    last = len(queue) - 1
    fresh = last + 1 - scanned
    if fresh == 1:  # the usual wake-up: one new message, at the end
        return last if matches_any(patterns, queue[-1]) else -1
    if fresh <= 0:
        return -1
    newest_first = list(islice(reversed(queue), fresh))
    for back in range(fresh - 1, -1, -1):  # oldest first
        if matches_any(patterns, newest_first[back]):
            return last - back
    return -1


def find_answer(queue: deque[Any], ref: Ref, scanned: int) -> int:
    """The index of the oldest answer of the call `ref` (`(ref, value)` or
    a `Down` of `ref`) after the first `scanned` messages, or -1; reached
    from the right end, as `find_fresh` does."""
    last = len(queue) - 1
    fresh = last + 1 - scanned
    if fresh <= 0:
        return -1
    newest_first = list(islice(reversed(queue), fresh))
    for back in range(fresh - 1, -1, -1):  # oldest first
        msg = newest_first[back]
        kind = type(msg)
        if (kind is tuple and len(msg) == 2 and msg[0] is ref) or (kind is Down and msg.ref is ref):
            return last - back
    return -1


def pop_at(queue: deque[Any], index: int) -> Any:
    """Remove and return `queue[index]`; a deque reaches an index from its
    nearer end, so this costs min(index, len - index) steps."""
    if index == 0:
        return queue.popleft()
    if index == len(queue) - 1:
        return queue.pop()
    msg = queue[index]
    del queue[index]
    return msg
