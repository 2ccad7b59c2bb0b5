"""Server-side sessions: a cookie with a random id, state kept per server.

As in misultin, a session is bound to the client's network (its /24 for
IPv4, /112 for IPv6; the client is `req.peer`, so behind a proxy only a
trusted one can name it): an id presented from elsewhere is not honoured.

Every cookie-less request that asks for a session makes one, so what a
client can make the server keep is bounded three ways:
- `sessions_expire`: a session idle that long is forgotten;
- `sessions_max_age`: a session is forgotten that long after it was made,
  however busy (its cookie's Max-Age says the same);
- `sessions_max`: past that many sessions the least recently used one is
  evicted to make room.
Sessions sit in one OrderedDict in order of last use, so the oldest idle
one is always first: the sweep pops from the front and costs O(expired),
not O(all). A session past its absolute lifetime that is still in use is
dropped when it is next looked up (and by the sweep once it idles).
"""

from __future__ import annotations

import ipaddress
import math
import secrets
import time
from collections import OrderedDict
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from ._req import Req

__all__ = ["COOKIE", "Sessions", "network_of"]

COOKIE: Final = "misultin_session"


def network_of(address: str) -> str:
    """The network a session is bound to: the address's /24 (IPv4) or /112."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    prefix = 24 if ip.version == 4 else 112
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False))


class _Session:
    __slots__ = ("born", "network", "seen", "state")

    def __init__(self, network: str, state: Any, now: float) -> None:
        self.network = network
        self.state = state
        self.born = now
        self.seen = now


class Sessions:
    """The sessions of one server."""

    def __init__(
        self,
        expire: float,
        max_age: float = 86400.0,
        limit: int = 100_000,
        clock: Any = time.monotonic,
    ) -> None:
        self._expire = expire
        self._max_age = max_age
        self._limit = limit
        self._clock = clock
        self._by_use: OrderedDict[str, _Session] = OrderedDict()  # least recent first
        self.evicted = 0  # sessions dropped to stay under `limit`, for info()

    def lookup(self, session_id: str | None, address: str) -> _Session | None:
        """The live session `session_id` if it belongs to `address`'s
        network; using it makes it the most recently used."""
        if session_id is None:
            return None
        session = self._by_use.get(session_id)
        if session is None or session.network != network_of(address):
            return None
        now = self._clock()
        if now - session.seen > self._expire or now - session.born > self._max_age:
            del self._by_use[session_id]
            return None
        session.seen = now
        self._by_use.move_to_end(session_id)
        return session

    def create(self, address: str) -> str:
        """A new session for `address`'s network; its id."""
        while len(self._by_use) >= self._limit:
            self._by_use.popitem(last=False)  # the least recently used
            self.evicted += 1
        session_id = secrets.token_hex(16)
        self._by_use[session_id] = _Session(network_of(address), None, self._clock())
        return session_id

    async def for_request(self, req: Req) -> tuple[str, Any]:
        address = req.peer[0]
        session_id = req.cookies.get(COOKIE)
        session = self.lookup(session_id, address)
        if session is None or session_id is None:
            session_id = self.create(address)
            req.set_cookie(
                COOKIE,
                session_id,
                max_age=max(1, math.ceil(self._max_age)),
                path="/",
                http_only=True,
            )
            return session_id, None
        return session_id, session.state

    async def load(self, session_id: str | None, address: str) -> tuple[str, Any] | None:
        """(id, state) of the live session `session_id`, or None."""
        session = self.lookup(session_id, address)
        if session is None or session_id is None:
            return None
        return session_id, session.state

    async def save(self, session_id: str, state: Any, address: str) -> None:
        session = self.lookup(session_id, address)
        if session is None:
            raise ValueError(f"invalid session id {session_id!r}")
        session.state = state

    def sweep(self) -> int:
        """Forget the sessions idle past `expire`; how many. Stops at the
        first one still fresh: everything after it was used later."""
        deadline = self._clock() - self._expire
        by_use = self._by_use
        swept = 0
        for session in by_use.values():
            if session.seen >= deadline:
                break
            swept += 1
        for _ in range(swept):
            by_use.popitem(last=False)
        return swept

    def __len__(self) -> int:
        return len(self._by_use)
