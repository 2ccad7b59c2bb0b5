"""The sending end of a connection to another node: each signed entry goes
to its inbox by the SEND script, on a Redis connection of the sender
task's own.

This is the hot path of every remote send, call and reply: through a
client library a command cost about 150 µs of CPU here, on this connection
about 20 (`_resp`). The script is called by its SHA1 and sent whole only
when Redis does not know it (a restarted or failed-over server, a SCRIPT
FLUSH): EVAL runs it and caches it again.

One connection per sender task: a task cancelled half way through a
command (its connection ended) takes that connection with it, and no
other peer's entries share its fate.
"""

from __future__ import annotations

import hashlib
from typing import Final

import trio

from ._redis_target import Address, RedisTarget
from ._resp import RedisReplyError, RespConnection

__all__ = ["CONNECT_TIMEOUT", "EntryWriter", "RedisReplyError"]

CONNECT_TIMEOUT: Final = 5.0  # seconds, as the client's own connections


class EntryWriter(RespConnection):
    """Runs one script (`source`) with its keys and arguments, and returns
    its integer answer. An error reply raises `RedisReplyError` with
    Redis's words (WRONGTYPE... for a key someone overwrote)."""

    def __init__(self, target: RedisTarget, address: Address, source: str) -> None:
        super().__init__(target, address)
        self._source = source.encode()
        self._sha = hashlib.sha1(self._source, usedforsecurity=False).hexdigest().encode()

    async def connect(self) -> None:
        with trio.fail_after(CONNECT_TIMEOUT):
            await super().connect()

    async def run(self, keys: list[bytes], args: list[bytes]) -> int:
        count = b"%d" % len(keys)
        await self._send([[b"EVALSHA", self._sha, count, *keys, *args]])
        try:
            return await self._integer()
        except RedisReplyError as exc:
            if not str(exc).startswith("NOSCRIPT"):
                raise
        await self._send([[b"EVAL", self._source, count, *keys, *args]])
        return await self._integer()

    async def _integer(self) -> int:
        kind, value = await self._header()
        if kind != b":":
            raise RedisReplyError(f"the script answered {kind!r}, not an integer")
        return value
