"""Sessions kept in the cluster's Redis, for a server whose node is in a
cluster: a client keeps its session whichever worker or node it lands on.

A session is a hash `httpserver:session:ID` (its client's network, when it
was made, and its state sealed with the cluster's cookie: signed, and read
back with the allow-list of messages between nodes, so whoever can write to
Redis cannot make a server unpickle what it likes). Its TTL is
`sessions_expire`, renewed on each use; `sessions_max_age` is checked
against the time it was made. Each server remembers the sessions it made,
oldest first, and deletes the oldest past `sessions_max`, so a flood of
cookie-less requests grows Redis by at most that many per server.

The coredis client lives in `run`, a task of the listener process: a
coredis pool must be closed by the task that opened it.
"""

from __future__ import annotations

import logging
import math
import secrets
import time
from collections import OrderedDict
from typing import TYPE_CHECKING, Any, Final

import trio

import actors

from ._sessions import COOKIE, network_of

if TYPE_CHECKING:
    from ._req import Req

__all__ = ["RedisSessions"]

logger = logging.getLogger("httpserver")

_PREFIX: Final = "httpserver:session:"


class RedisSessions:
    """The sessions of one server, in Redis."""

    def __init__(self, url: str, expire: float, max_age: float, limit: int) -> None:
        self._url = url
        self._expire_ms = max(1, math.ceil(expire * 1000))
        self._max_age = max_age
        self._limit = limit
        self._made: OrderedDict[str, float] = OrderedDict()  # by this server, oldest first
        self._client: Any = None
        self._ready = trio.Event()
        self.evicted = 0

    async def run(self) -> None:
        """Open the client and keep it open while the listener lives."""
        async with actors.lowlevel.open_redis(self._url) as client:
            self._client = client
            self._ready.set()
            try:
                await trio.sleep_forever()
            finally:
                self._client = None

    async def _redis(self) -> Any:
        with trio.fail_after(10):
            await self._ready.wait()
        if self._client is None:
            raise RuntimeError("the server's session store is closed")
        return self._client

    async def load(self, session_id: str | None, address: str) -> tuple[str, Any] | None:
        """(id, state) of the live session `session_id` of `address`'s
        network, or None; using it renews its idle time."""
        if session_id is None or not session_id.isalnum() or len(session_id) > 64:
            return None
        client = await self._redis()
        key = _PREFIX + session_id
        found = await client.hgetall(key)
        if not found or found.get(b"net") != network_of(address).encode():
            return None
        if time.time() - float(found.get(b"born", 0)) > self._max_age:
            await client.delete([key])
            return None
        await client.pexpire(key, self._expire_ms)
        sealed = found.get(b"state")
        if not sealed:
            return session_id, None
        try:
            return session_id, actors.lowlevel.unseal(sealed)
        except ValueError as exc:
            logger.error("httpserver: session %s fails its check: %s", key, exc)  # noqa: TRY400
            return session_id, None

    async def for_request(self, req: Req) -> tuple[str, Any]:
        address = req.peer[0]
        session_id = req.cookies.get(COOKIE)
        found = await self.load(session_id, address)
        if found is not None:
            return found
        session_id = secrets.token_hex(16)
        client = await self._redis()
        key = _PREFIX + session_id
        await client.hset(key, {"net": network_of(address), "born": repr(time.time())})
        await client.pexpire(key, self._expire_ms)
        self._made[session_id] = time.monotonic()
        while len(self._made) > self._limit:
            old, _ = self._made.popitem(last=False)
            await client.delete([_PREFIX + old])
            self.evicted += 1
        req.set_cookie(
            COOKIE, session_id, max_age=max(1, math.ceil(self._max_age)), path="/", http_only=True
        )
        return session_id, None

    async def save(self, session_id: str, state: Any, address: str) -> None:
        if await self.load(session_id, address) is None:
            raise ValueError(f"invalid session id {session_id!r}")
        client = await self._redis()
        key = _PREFIX + session_id
        await client.hset(key, {"state": actors.lowlevel.seal(state)})
        await client.pexpire(key, self._expire_ms)

    def sweep(self) -> int:
        """Forget the sessions this server made that Redis has expired by
        now for certain (older than their maximum age)."""
        deadline = time.monotonic() - self._max_age
        swept = 0
        while self._made and next(iter(self._made.values())) < deadline:
            self._made.popitem(last=False)
            swept += 1
        return swept

    def __len__(self) -> int:
        return len(self._made)
