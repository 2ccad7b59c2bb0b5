"""Server-side sessions: a cookie with a random id, state kept per server.

As in misultin, a session is bound to the client's network (its /24 for
IPv4, /112 for IPv6): an id presented from elsewhere is not honoured. A
session idle for `sessions_expire` seconds is forgotten.
"""

from __future__ import annotations

import ipaddress
import secrets
import time
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from ._req import Req

__all__ = ["COOKIE", "Sessions"]

COOKIE: Final = "misultin_session"
_ONE_YEAR: Final = 365 * 24 * 3600


def _network(address: str) -> str:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    prefix = 24 if ip.version == 4 else 112
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False))


class _Session:
    __slots__ = ("network", "seen", "state")

    def __init__(self, network: str, state: Any) -> None:
        self.network = network
        self.state = state
        self.seen = time.monotonic()


class Sessions:
    """The sessions of one server."""

    def __init__(self, expire: float) -> None:
        self._expire = expire
        self._by_id: dict[str, _Session] = {}

    def lookup(self, session_id: str | None, address: str) -> _Session | None:
        if session_id is None:
            return None
        session = self._by_id.get(session_id)
        if session is None or session.network != _network(address):
            return None
        if time.monotonic() - session.seen > self._expire:
            del self._by_id[session_id]
            return None
        session.seen = time.monotonic()
        return session

    async def for_request(self, req: Req) -> tuple[str, Any]:
        address = req.peer[0]
        session_id = req.cookies.get(COOKIE)
        session = self.lookup(session_id, address)
        if session is None or session_id is None:
            session_id = secrets.token_hex(16)
            session = self._by_id[session_id] = _Session(_network(address), None)
            req.set_cookie(COOKIE, session_id, max_age=_ONE_YEAR, path="/", http_only=True)
        return session_id, session.state

    async def save(self, session_id: str, state: Any, address: str) -> None:
        session = self.lookup(session_id, address)
        if session is None:
            raise ValueError(f"invalid session id {session_id!r}")
        session.state = state

    def sweep(self) -> None:
        """Forget every expired session."""
        deadline = time.monotonic() - self._expire
        for session_id in [k for k, s in self._by_id.items() if s.seen < deadline]:
            del self._by_id[session_id]

    def __len__(self) -> int:
        return len(self._by_id)
