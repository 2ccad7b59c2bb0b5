"""Server options, validated up front from one table: name, default, check, error.

misultin ignored unknown options and failed late on bad values; here a bad
start fails at once, saying which option, what was wrong, and (for a typo)
which option was probably meant.
"""

from __future__ import annotations

import difflib
import importlib.util
import inspect
import ipaddress
import pickle
import ssl as ssl_module
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from ._parsing import have_httptools
from ._peer import is_trusted_proxies

__all__ = ["Options"]


def _is_int(low: int, high: float = float("inf")) -> Callable[[Any], bool]:
    return lambda v: isinstance(v, int) and not isinstance(v, bool) and low <= v <= high


def _is_positive(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and v > 0


_is_rate = _is_positive

# About 31 years: "never" in practice. Past it a session's Redis TTL or its
# cookie's Max-Age no longer converts (infinity does not at all).
_MAX_SECONDS = 1e9


def _is_seconds(v: Any) -> bool:
    return _is_positive(v) and v <= _MAX_SECONDS


def _is_bool(v: Any) -> bool:
    return isinstance(v, bool)


def _is_ip(v: Any) -> bool:
    try:
        ipaddress.ip_address(v)
    except ValueError:
        return False
    return True


def _is_static(v: Any) -> bool:
    return v is None or (isinstance(v, str | Path) and Path(v).is_dir())


def _is_ssl(v: Any) -> bool:
    if v is None or isinstance(v, ssl_module.SSLContext):
        return True
    return (
        isinstance(v, dict)
        and set(v) <= {"certfile", "keyfile", "password"}
        and "certfile" in v
        and all(Path(v[k]).is_file() for k in ("certfile", "keyfile") if k in v)
    )


def _is_callable_or_none(v: Any) -> bool:
    return v is None or callable(v)


def is_async_callable(v: Any) -> bool:
    """An async function, a partial of one, or an object whose `__call__`
    is one: what the server awaits. A plain `def` that returns a coroutine
    passes a `callable` check and then fails on the first request, far
    from the mistake; it is refused at start instead."""
    if not callable(v):
        return False
    return (
        inspect.iscoroutinefunction(v)
        or inspect.iscoroutinefunction(inspect.unwrap(v))
        or inspect.iscoroutinefunction(getattr(v, "__call__", None))  # noqa: B004
    )


def _is_async_or_none(v: Any) -> bool:
    return v is None or is_async_callable(v)


def describe(fn: Any) -> str:
    """How an error names a handler: `module.qualname`, as the user wrote it."""
    name = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None)
    if name is None:
        return repr(fn)
    module = getattr(fn, "__module__", None)
    return f"{module}.{name}" if module else str(name)


# The options that hold the user's code: with workers > 1 they go to the
# worker processes by pickle, which sends a function as its module and name.
HANDLERS = ("loop", "ws_loop", "access_log")


def _check_pickles(values: dict[str, Any]) -> None:
    """With workers > 1, refuse at start a handler a worker could not
    import (a lambda, a function defined inside another), naming it."""
    for name in HANDLERS:
        fn = values[name]
        if fn is None:
            continue
        try:
            pickle.dumps(fn)
        except Exception as exc:
            raise ValueError(
                f"bad server option {name}={describe(fn)}: workers={values['workers']} sends"
                f" it to the worker processes by pickle, and it does not pickle ({exc}); it must"
                " be a module-level function (not a lambda, nor defined inside a function)"
            ) from exc


def _is_origins(v: Any) -> bool:
    return v is None or (
        isinstance(v, list | tuple | set | frozenset) and all(isinstance(o, str) for o in v)
    )


def _is_http(v: Any) -> bool:
    return v in ("auto", "h11") or (v == "httptools" and have_httptools())


def _is_ws(v: Any) -> bool:
    if v == "websockets":
        return importlib.util.find_spec("websockets") is not None
    return v in ("auto", "wsproto")


def _is_pending(v: Any) -> bool:
    return isinstance(v, tuple | list) and len(v) == 2 and all(_is_int(1)(n) for n in v)


# name, default, check, what a good value is
_TABLE: list[tuple[str, Any, Callable[[Any], bool], str]] = [
    ("loop", None, is_async_callable, "an async function taking a Req"),
    ("ip", "0.0.0.0", _is_ip, "an IPv4 or IPv6 address such as '127.0.0.1' or '::1'"),
    ("port", 80, _is_int(0, 65535), "an int from 0 to 65535 (0 picks a free port)"),
    ("name", None, lambda v: True, "a name to register the listener process under"),
    # Connections the kernel completes before accept takes them (capped by
    # net.core.somaxconn): room for a burst, as uvicorn's and gunicorn's 2048.
    # The kernel caps it at net.core.somaxconn; listen() takes a C int.
    ("backlog", 2048, _is_int(1, 65535), "an int from 1 to 65535"),
    # Capped at start by the fd limit (see _fdlimit): half of RLIMIT_NOFILE less a reserve.
    ("max_connections", 4096, _is_int(1), "an int >= 1"),
    ("post_max_size", 4 * 1024 * 1024, _is_int(0), "a number of bytes >= 0"),
    ("get_url_max_size", 2000, _is_int(1), "a number of bytes >= 1"),
    # The request parser: every limit, status and header list is the same
    # with both; httptools (llhttp) is faster, and h11 judges what it is unsure of.
    (
        "http",
        "auto",
        _is_http,
        "'auto' (httptools when installed, else h11), 'h11', or 'httptools'"
        " (installed with the speedups extra: pip install 'trio-misultin[speedups]')",
    ),
    # The whole request head must come within it; an idle keep-alive closes after it.
    ("recv_timeout", 30.0, _is_seconds, "seconds > 0, at most 1e9"),
    # A body has recv_timeout, plus 1 s per body_min_rate bytes received (Apache's MinRate).
    ("body_min_rate", 1024, _is_rate, "bytes per second > 0, e.g. 1024"),
    # A client that takes no piece (256 KiB) of a response for this long is closed.
    ("send_timeout", 30.0, _is_seconds, "seconds > 0, at most 1e9"),
    ("compress", False, _is_bool, "True or False"),
    ("static", None, _is_static, "None or an existing directory"),
    ("ssl", None, _is_ssl, "None, an ssl.SSLContext, or {'certfile', 'keyfile', 'password'}"),
    ("access_log", None, _is_callable_or_none, "None or a function taking an AccessLog"),
    ("auto_recv_body", True, _is_bool, "True or False"),
    ("autoexit", True, _is_bool, "True or False"),
    (
        "sessions_expire",
        600.0,
        _is_seconds,
        "seconds > 0, at most 1e9 (a session idle that long ends)",
    ),
    (
        "sessions_max_age",
        86400.0,
        _is_seconds,
        "seconds > 0, at most 1e9 (a session ends that long after it began, however busy;"
        " its cookie's Max-Age)",
    ),
    (
        "sessions_max",
        100_000,
        _is_int(1),
        "an int >= 1 (past it the least recently used session is evicted)",
    ),
    ("proxy_protocol", False, _is_bool, "True or False (True needs trusted_proxies)"),
    (
        "trusted_proxies",
        (),
        is_trusted_proxies,
        "a list of proxy addresses or networks, e.g. ['127.0.0.1', '10.0.0.0/8'], or ['*']",
    ),
    ("shutdown_timeout", 5.0, _is_seconds, "seconds > 0, at most 1e9"),
    ("workers", 1, _is_int(1, 256), "an int from 1 to 256"),
    ("handle_signals", True, _is_bool, "True (SIGTERM / SIGINT drain, then exit 0) or False"),
    ("ws_loop", None, _is_async_or_none, "None or an async function taking a Ws"),
    ("ws_autoexit", True, _is_bool, "True or False"),
    ("ws_max_message", 16 * 1024 * 1024, _is_int(1), "a number of bytes >= 1"),
    ("ws_max_queue", 16 * 1024 * 1024, _is_int(1), "a number of bytes >= 1"),
    ("ws_max_fragments", 1024, _is_int(1), "an int >= 1"),
    ("ws_max_pending", (64, 1024 * 1024), _is_pending, "a pair (messages >= 1, bytes >= 1)"),
    ("ws_ping_interval", 30.0, _is_seconds, "seconds > 0, at most 1e9"),
    ("ws_ping_timeout", 20.0, _is_seconds, "seconds > 0, at most 1e9"),
    ("ws_compress", True, _is_bool, "True or False"),
    ("ws_origins", None, _is_origins, "None or a list of allowed Origin values"),
    ("ws_subprotocols", (), _is_origins, "a list of subprotocols the server speaks"),
    # The WebSocket protocol backend; "auto" takes websockets (C masking) when installed.
    (
        "ws",
        "auto",
        _is_ws,
        "'auto', 'wsproto' or 'websockets' (which needs the websockets library:"
        " the speedups extra)",
    ),
]


@dataclass(frozen=True, slots=True)
class Options:
    """The validated options of one server. Build it with `Options.of(...)`."""

    loop: Callable[..., Any]
    ip: str
    port: int
    name: object
    backlog: int
    max_connections: int
    post_max_size: int
    get_url_max_size: int
    http: str
    recv_timeout: float
    body_min_rate: float
    send_timeout: float
    compress: bool
    static: str | None
    ssl: Any
    access_log: Callable[..., Any] | None
    auto_recv_body: bool
    autoexit: bool
    sessions_expire: float
    sessions_max_age: float
    sessions_max: int
    proxy_protocol: bool
    trusted_proxies: tuple[str, ...]
    shutdown_timeout: float
    workers: int
    handle_signals: bool
    ws_loop: Callable[..., Any] | None
    ws_autoexit: bool
    ws_max_message: int
    ws_max_queue: int
    ws_max_fragments: int
    ws_max_pending: tuple[int, int]
    ws_ping_interval: float
    ws_ping_timeout: float
    ws_compress: bool
    ws_origins: Any
    ws_subprotocols: Any
    ws: str

    @classmethod
    def of(cls, given: dict[str, Any]) -> Options:
        """Check every option of `given` against the table; fill in defaults."""
        known = {row[0]: row for row in _TABLE}
        for key in given:
            if key not in known:
                close = difflib.get_close_matches(key, known, n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                raise TypeError(f"unknown server option {key!r}{hint}")
        if given.get("loop") is None:
            raise TypeError("the server option 'loop' is required: an async function taking a Req")
        values = {}
        for name, default, check, good in _TABLE:
            value = given.get(name, default)
            if name in given and not check(value):
                if name in HANDLERS and callable(value):
                    raise ValueError(
                        f"bad server option {name}={describe(value)}: it must be {good},"
                        " and it is a plain function: declare it with `async def`"
                    )
                raise ValueError(f"bad server option {name}={value!r}: it must be {good}")
            values[name] = value
        if values["workers"] > 1:
            _check_pickles(values)
        values["ws_max_pending"] = tuple(values["ws_max_pending"])
        values["trusted_proxies"] = tuple(values["trusted_proxies"])
        if values["proxy_protocol"] and not values["trusted_proxies"]:
            raise ValueError(
                "bad server options: proxy_protocol=True needs trusted_proxies, the addresses"
                " of the proxies that send the PROXY line (e.g. ['127.0.0.1'] or ['10.0.0.0/8'])"
            )
        if values["static"] is not None:
            values["static"] = str(Path(values["static"]).resolve())
        return cls(**values)


assert [f.name for f in fields(Options)] == [row[0] for row in _TABLE]
