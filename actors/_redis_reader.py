"""The reading end of a node's inbox: XREAD on a connection of its own,
parsed as it arrives, so that no entry costs more memory than its bound.

A client library reads each reply whole before anyone can look at it: an
entry of 60 MB that anyone with access to Redis wrote into an inbox would
be in memory before a size check could refuse it, and 64 of them at once.
This reader (a `RespConnection`: AUTH, SELECT, and XTRIM + XREAD in one
write) reads bulk strings by their announced
length: one bigger than `max_entry` is skipped as it streams past, a few
KiB at a time, and the entries of one read stop being kept once they hold
`budget` bytes (the rest are read again next time).

It also trims what it has read (XTRIM MINID, in the same write as the
next XREAD): an inbox holds what its reader has not read yet, and nothing
a live reader has not read is ever trimmed.
"""

from __future__ import annotations

from typing import NamedTuple

from ._redis_target import Address, RedisTarget
from ._resp import RedisReplyError, RespConnection

__all__ = ["Entry", "InboxReader", "RedisReplyError"]


class Entry(NamedTuple):
    """One entry read: its id, and its "m" field (None when it was too big
    or had no such field; `size` then says how big it was)."""

    id: bytes
    data: bytes | None
    size: int


class InboxReader(RespConnection):
    """One connection that reads one stream."""

    def __init__(
        self, target: RedisTarget, address: Address, key: str, max_entry: int, budget: int
    ) -> None:
        super().__init__(target, address)
        self._key = key.encode()
        self.max_entry = max_entry
        self.budget = budget

    async def read(
        self, after: bytes, count: int, block_ms: int, trim_below: bytes | None
    ) -> list[Entry]:
        """The entries after id `after` (waiting up to `block_ms` for one);
        first, if `trim_below`, drop the entries older than that id."""
        commands = []
        if trim_below is not None:
            commands.append([b"XTRIM", self._key, b"MINID", trim_below])
        commands.append(
            [
                b"XREAD",
                b"COUNT",
                b"%d" % count,
                b"BLOCK",
                b"%d" % block_ms,
                b"STREAMS",
                self._key,
                after,
            ]
        )
        await self._send(commands)
        if trim_below is not None:
            try:
                await self._value()  # how many it trimmed
            except RedisReplyError:
                await self._xread_reply()  # read it anyway: the replies stay in step
                raise
        return await self._xread_reply()

    async def _xread_reply(self) -> list[Entry]:
        kind, streams = await self._header()
        if kind != b"*":
            raise RedisReplyError("XREAD did not answer an array")
        entries: list[Entry] = []
        kept = 0
        stopped = False
        for _ in range(max(streams, 0)):  # -1 (nil) when the block timed out
            await self._expect_array(2)
            await self._value()  # the stream's name
            kind, count = await self._header()
            for _ in range(max(count, 0)):
                await self._expect_array(2)
                entry_id = await self._short_bulk()
                kind, fields = await self._header()
                data: bytes | None = None
                size = 0
                field = b""
                for index in range(max(fields, 0)):
                    kind, length = await self._header()
                    if kind != b"$" or length < 0:
                        raise RedisReplyError("a stream field that is not a bulk string")
                    if index % 2 == 0:  # a field's name
                        field = await self._bulk(length, keep=length <= 16) or b""
                        continue
                    size = max(size, length)
                    keep = field == b"m" and data is None and length <= self.max_entry
                    if keep and entries and kept + length > self.budget:
                        stopped = True  # this entry and the rest: read again next time
                    value = await self._bulk(length, keep and not stopped)
                    if keep and not stopped:
                        data = value
                        kept += length
                if not stopped:
                    entries.append(Entry(entry_id, data, size))
        return entries

    async def _expect_array(self, size: int) -> None:
        kind, got = await self._header()
        if kind != b"*" or got != size:
            raise RedisReplyError(f"expected an array of {size}, got {kind!r}{got}")

    async def _short_bulk(self) -> bytes:
        kind, length = await self._header()
        if kind != b"$" or not 0 <= length <= 64:
            raise RedisReplyError("a stream entry id that is not a short bulk string")
        data = await self._bulk(length, keep=True)
        assert data is not None
        return data
