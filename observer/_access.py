"""Who may ask the observer what: the Host a request names, the Origin a
browser sends, and what a kill must look like.

The page shows the whole system and its kill button ends any user
process, so every request must name a Host the observer answers to: a
loopback name when it listens on loopback, or one of `allowed_hosts`.
That defeats DNS rebinding, where a page elsewhere gives its own name the
observer's address to read it through a visitor's browser. A socket from
a browser must come from the page's own origin. A kill must be a JSON
body (a cross-site form can send only text/plain, urlencoded or
multipart bodies without asking the server first) with the page's own
Origin, which a browser sets and a page elsewhere cannot.

Listening on an address other machines reach needs an explicit token and
an explicit list of Host names, and says so in the log.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Final
from urllib.parse import urlsplit

__all__ = [
    "check_bind",
    "host_allowed",
    "hostname",
    "kill_refused",
    "origin_allowed",
]

LOOPBACK_NAMES: Final = frozenset({"localhost", "127.0.0.1", "::1"})


def hostname(host: str | None) -> str | None:
    """The name part of a Host header (no port, no brackets), lowercase."""
    if not host:
        return None
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def is_loopback(ip: str) -> bool:
    return ipaddress.ip_address(ip).is_loopback


def check_bind(ip: str, token: str | None, allowed_hosts: Iterable[str] | None) -> frozenset[str]:
    """The Host names an observer on `ip` answers to, besides the loopback
    names. ValueError for a bad `ip` or name, or for an address other
    machines reach without an explicit `token` and `allowed_hosts`;
    TypeError for names that are not a list of str."""
    try:
        loopback = is_loopback(ip)
    except ValueError:
        raise ValueError(f"ip must be an IP address such as '127.0.0.1'; got {ip!r}") from None
    if isinstance(allowed_hosts, str):
        raise TypeError(f"allowed_hosts must be a list of names; got the str {allowed_hosts!r}")
    names = frozenset(_host_name(name) for name in allowed_hosts or ())
    if not loopback and (token is None or not names):
        raise ValueError(
            f"an observer on {ip} is reachable from other machines: it needs token= "
            "(the kill token, of your choosing) and allowed_hosts= (the Host names "
            "it answers to, e.g. ['observer.example.com']; --token-file and "
            "--allowed-host on the command line)"
        )
    return names


def _host_name(name: object) -> str:
    if not isinstance(name, str):
        raise TypeError(f"allowed_hosts holds names (str); got {name!r}")
    found = hostname(name)
    if not found or found == "*" or any(c.isspace() or c in "/@*" for c in found):
        raise ValueError(f"allowed_hosts: {name!r} is not a host name such as 'example.com'")
    return found


def host_allowed(ip: str, allowed: frozenset[str], host: str | None) -> bool:
    """Whether a request naming `host` may be answered by an observer on
    `ip` (see the module docstring)."""
    name = hostname(host)
    if name is None:
        return False
    if name in allowed or name in LOOPBACK_NAMES:
        return True
    return is_loopback(ip) and name.endswith(".localhost")


def origin_allowed(origin: str | None, host: str | None) -> bool:
    """A socket from a browser must come from the page's own origin."""
    if origin is None:
        return True  # not a browser: it could send any Origin anyway
    return same_origin(origin, host)


def same_origin(origin: str, host: str | None) -> bool:
    """Whether `origin` is the page's own (the observer at `host`)."""
    try:
        parts = urlsplit(origin)
    except ValueError:
        return False
    return (
        host is not None
        and parts.scheme in ("http", "https")
        and parts.netloc.lower() == host.strip().lower()
    )


def kill_refused(
    content_type: str | None, origin: str | None, host: str | None
) -> tuple[int, str] | None:
    """Why a kill request cannot be a kill the page made, as (status,
    error); None if it can."""
    if (content_type or "").split(";", 1)[0].strip().lower() != "application/json":
        return 415, "a kill is a JSON body: Content-Type: application/json"
    if origin is None or not same_origin(origin, host):
        return 403, "a kill must come from the observer's own page (its Origin)"
    return None
