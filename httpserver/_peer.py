"""Who the client is: the socket's peer, unless that peer is a trusted proxy.

X-Forwarded-For, X-Real-Ip and the PROXY line are claims any client can
make. They are believed only when the connection comes from an address in
the `trusted_proxies` option (addresses or networks; empty by default, as
uvicorn's forwarded_allow_ips). Behind a chain of proxies, each appends the
address it saw to X-Forwarded-For; walking the list from the right, the
first address that is not a trusted proxy is the client (the entries left
of it were written by the client itself and prove nothing).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._headers import Headers

__all__ = ["Trust", "is_trusted_proxies"]

_Address = ipaddress.IPv4Address | ipaddress.IPv6Address
_Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def is_trusted_proxies(value: object) -> bool:
    """The option's check: a list of addresses, networks, or "*"."""
    if not isinstance(value, list | tuple | set | frozenset):
        return False
    for item in value:
        if not isinstance(item, str):
            return False
        if item != "*":
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                return False
    return True


def parse_address(text: str) -> _Address | None:
    """An address as proxies write it: `1.2.3.4`, `1.2.3.4:80`, `[::1]:80`,
    `::1`; IPv4-mapped IPv6 as IPv4. None if it is not an address."""
    text = text.strip()
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        if text.startswith("["):
            text = text[1 : text.find("]")]
        elif text.count(":") == 1:
            text = text.partition(":")[0]
        try:
            ip = ipaddress.ip_address(text)
        except ValueError:
            return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


class Trust:
    """The trusted proxies of one server, and the client address they imply."""

    __slots__ = ("any", "everyone", "networks")

    def __init__(self, given: Iterable[str]) -> None:
        given = list(given)
        self.everyone = "*" in given
        self.networks: tuple[_Network, ...] = tuple(
            ipaddress.ip_network(item, strict=False) for item in given if item != "*"
        )
        self.any = self.everyone or bool(self.networks)  # whether any proxy is trusted

    def __bool__(self) -> bool:
        return self.any

    def trusts(self, address: str | _Address) -> bool:
        """Whether `address` is a proxy whose word on the client is taken."""
        if self.everyone:
            return True
        ip = parse_address(address) if isinstance(address, str) else address
        return ip is not None and any(ip in network for network in self.networks)

    def client(self, peer: str, headers: Headers) -> str:
        """The client's address for a connection from `peer`: the rightmost
        untrusted X-Forwarded-For entry, else X-Real-Ip, when `peer` is a
        trusted proxy; `peer` itself otherwise."""
        if not self or not self.trusts(peer):
            return peer
        chain = headers.getall("x-forwarded-for")
        if chain:
            client = peer
            entries = [entry for value in chain for entry in value.split(",")]
            for entry in reversed(entries):
                ip = parse_address(entry)
                if ip is None:  # garbage: stop at the last hop that made sense
                    break
                client = str(ip)
                if not self.trusts(ip):
                    break
            return client
        real = headers.get("x-real-ip")
        if real is not None:
            ip = parse_address(real)
            if ip is not None:
                return str(ip)
        return peer

    @staticmethod
    def forwarded(headers: Headers) -> tuple[str | None, str | None]:
        """(scheme, mount point) a trusted proxy says the client used:
        the last X-Forwarded-Proto entry if it is http or https, and
        X-Forwarded-Prefix if it is a path (its trailing slash dropped).
        Call it only for a connection from a trusted proxy."""
        scheme = None
        proto = headers.get("x-forwarded-proto")
        if proto is not None:
            last = proto.rsplit(",", 1)[-1].strip().lower()
            if last in ("http", "https"):
                scheme = last
        prefix = headers.get("x-forwarded-prefix")
        if prefix is not None:
            prefix = prefix.strip().rstrip("/")
            if prefix and (not prefix.startswith("/") or any(c in prefix for c in "?#\\")):
                prefix = None
        return scheme, prefix
