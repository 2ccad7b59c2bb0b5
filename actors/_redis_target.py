"""Where a cluster's Redis is, from its URL: one server, or the primary
that Redis Sentinel names.

    redis://[user:password@]host[:port][/db]
    rediss://[user:password@]host[:port][/db][?ssl_ca_certs=...&ssl_cert_reqs=...]
    unix://[user:password@]/path/to/redis.sock[?db=N]
    redis+sentinel://[user:password@]host:port[,host:port...]/service[/db]
    rediss+sentinel://...                  (TLS to the primary and the sentinels)

With Sentinel, the address of the primary is asked anew at each
(re)connection, so a node that loses its primary in a failover finds the
new one. The password is the primary's; `sentinel_password=` in the query
is the sentinels' own, if they have one. Nothing here ever puts a password
in a message: `redacted` is the URL to show.
"""

from __future__ import annotations

import re
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import parse_qs, unquote

__all__ = ["Address", "RedisTarget", "open_client", "open_lasting_client", "parse_url", "redacted"]

_SCHEMES: Final = ("redis", "rediss", "unix", "redis+sentinel", "rediss+sentinel")
_SSL_KEYS: Final = (
    "ssl_ca_certs",
    "ssl_cert_reqs",
    "ssl_certfile",
    "ssl_keyfile",
    "ssl_check_hostname",
)


@dataclass(frozen=True)
class Address:
    """One Redis server to connect to."""

    host: str | None = None
    port: int = 6379
    path: str | None = None  # a unix socket


@dataclass(frozen=True)
class RedisTarget:
    """A parsed cluster URL."""

    url: str
    address: Address | None  # None with Sentinel: asked at each connection
    db: int = 0
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    tls: ssl.SSLContext | None = field(default=None, repr=False)
    sentinels: tuple[tuple[str, int], ...] = ()
    service: str | None = None
    sentinel_password: str | None = field(default=None, repr=False)

    @property
    def redacted(self) -> str:
        return redacted(self.url)


_PASSWORD_PARAM: Final = re.compile(r"(?i)([?&;][a-z_]*password=)[^&;#]*")


def redacted(url: str) -> str:
    """`url` as a message may show it: its password (or userinfo that is not
    `user:password`) and any `...password=` parameter as ***."""
    head, sep, rest = url.partition("://")
    if not sep:
        head, rest = "", url
    userinfo, at, after = rest.rpartition("@")  # the last @: a password may hold one
    if at:
        user, colon, _ = userinfo.partition(":")
        plain = colon and not any(mark in user for mark in "/?#")
        rest = (f"{user}:***@" if plain else "***@") + after
    return head + sep + _PASSWORD_PARAM.sub(r"\1***", rest)


def parse_url(url: str) -> RedisTarget:
    """Check and parse a cluster URL; `ValueError` names what is wrong
    (never the password)."""
    if not isinstance(url, str):
        raise TypeError(f"a cluster URL is a str, not {type(url).__name__}")
    scheme, sep, rest = url.partition("://")
    if not sep or scheme not in _SCHEMES:
        raise ValueError(
            f"cluster URL {redacted(url)!r} is not a Redis URL: it must start with "
            + ", ".join(f"{s}://" for s in _SCHEMES)
        )
    rest, _, query_text = rest.partition("?")
    query = {key: values[-1] for key, values in parse_qs(query_text).items()}
    userinfo, at, location = rest.rpartition("@")
    username = password = None
    if at:
        user, colon, secret = userinfo.partition(":")
        username = unquote(user) or None
        password = unquote(secret) if colon else None
    tls = _tls_context(query) if scheme.startswith("rediss") else None
    if scheme == "unix":
        path = unquote(location)
        if not path.startswith("/"):
            raise ValueError(f"cluster URL {redacted(url)!r}: a unix socket needs an absolute path")
        return RedisTarget(
            url, Address(path=path), _db(query.get("db", "0"), url), username, password
        )
    hosts, _, path = location.partition("/")
    if scheme.endswith("+sentinel"):
        service, _, db_text = path.partition("/")
        if not service:
            raise ValueError(
                f"cluster URL {redacted(url)!r}: Sentinel needs the service name, as in "
                "redis+sentinel://host:26379/mymaster/0"
            )
        sentinels = tuple(_host_port(part, 26379, url) for part in hosts.split(",") if part)
        if not sentinels:
            raise ValueError(f"cluster URL {redacted(url)!r} names no sentinel")
        return RedisTarget(
            url,
            None,
            _db(db_text or query.get("db", "0"), url),
            username,
            password,
            tls,
            sentinels,
            unquote(service),
            query.get("sentinel_password"),
        )
    if "," in hosts:
        raise ValueError(
            f"cluster URL {redacted(url)!r} names several hosts: for Sentinel, use redis+sentinel://"
        )
    host, port = _host_port(hosts, 6379, url)
    return RedisTarget(
        url, Address(host, port), _db(path or query.get("db", "0"), url), username, password, tls
    )


def _host_port(text: str, default: int, url: str) -> tuple[str, int]:
    if text.startswith("["):  # [::1]:6379
        host, _, tail = text[1:].partition("]")
        port_text = tail[1:] if tail.startswith(":") else ""
    else:
        host, _, port_text = text.partition(":")
    if not host:
        raise ValueError(f"cluster URL {redacted(url)!r} has no host")
    try:
        port = int(port_text) if port_text else default
    except ValueError:
        raise ValueError(
            f"cluster URL {redacted(url)!r}: port {port_text!r} is not a number"
        ) from None
    if not 0 < port < 65536:
        raise ValueError(f"cluster URL {redacted(url)!r}: port {port} is out of range")
    return unquote(host), port


def _db(text: str, url: str) -> int:
    try:
        db = int(text.strip("/") or 0)
    except ValueError:
        raise ValueError(
            f"cluster URL {redacted(url)!r}: database {text!r} is not a number"
        ) from None
    if db < 0:
        raise ValueError(f"cluster URL {redacted(url)!r}: database {db} is negative")
    return db


def _tls_context(query: dict[str, str]) -> ssl.SSLContext:
    reqs = query.get("ssl_cert_reqs", "required").lower()
    if reqs not in ("none", "optional", "required"):
        raise ValueError(f"ssl_cert_reqs must be none, optional or required, not {reqs!r}")
    context = ssl.create_default_context(cafile=query.get("ssl_ca_certs"))
    if query.get("ssl_certfile"):
        context.load_cert_chain(query["ssl_certfile"], query.get("ssl_keyfile"))
    check = query.get("ssl_check_hostname", "true" if reqs == "required" else "false")
    context.check_hostname = check.lower() in ("1", "true", "yes")
    context.verify_mode = {
        "none": ssl.CERT_NONE,
        "optional": ssl.CERT_OPTIONAL,
        "required": ssl.CERT_REQUIRED,
    }[reqs]
    return context


def client_options(target: RedisTarget, address: Address) -> dict[str, Any]:
    """coredis.Redis's keyword arguments for `address`."""
    options: dict[str, Any] = {
        "db": target.db,
        "username": target.username,
        "password": target.password,
        "connect_timeout": 5.0,
    }
    if address.path is not None:
        options["unix_socket_path"] = address.path
    else:
        options["host"], options["port"] = address.host, address.port
    if target.tls is not None:
        options["ssl_context"] = target.tls
    return options


async def primary_address(target: RedisTarget) -> Address:
    """The address to connect to now: the URL's, or the primary that the
    sentinels name (`ConnectionError` if none does)."""
    if target.address is not None:
        return target.address
    import coredis
    from coredis.connection import TCPLocation

    kwargs: dict[str, Any] = {"connect_timeout": 5.0}
    if target.sentinel_password:
        kwargs["password"] = target.sentinel_password
    if target.tls is not None:
        kwargs["ssl_context"] = target.tls
    sentinel = coredis.Sentinel(
        [TCPLocation(host, port) for host, port in target.sentinels], sentinel_kwargs=kwargs
    )
    async with sentinel:
        try:
            host, port = await sentinel.discover_primary(target.service or "")
        except coredis.exceptions.PrimaryNotFoundError as exc:
            raise ConnectionError(f"no sentinel names a primary for {target.service!r}") from exc
    return Address(host, int(port))


@asynccontextmanager
async def open_lasting_client(target: RedisTarget) -> AsyncIterator[Any]:
    """A coredis client for as long as the block runs: with Sentinel, one
    that finds the new primary by itself after a failover."""
    import coredis

    if target.address is not None:
        async with coredis.Redis(**client_options(target, target.address)) as client:
            yield client
        return
    from coredis.connection import TCPLocation

    kwargs: dict[str, Any] = {"connect_timeout": 5.0}
    if target.sentinel_password:
        kwargs["password"] = target.sentinel_password
    sentinel = coredis.Sentinel(
        [TCPLocation(host, port) for host, port in target.sentinels],
        sentinel_kwargs=kwargs,
        **{k: v for k, v in client_options(target, Address()).items() if k not in ("host", "port")},
    )
    async with sentinel, sentinel.primary_for(target.service or "") as client:
        yield client


@asynccontextmanager
async def open_client(target: RedisTarget) -> AsyncIterator[tuple[Any, Address]]:
    """A coredis client to the primary, and its address, while the block runs."""
    import coredis

    address = await primary_address(target)
    client = coredis.Redis(**client_options(target, address))
    async with client:
        yield client, address
