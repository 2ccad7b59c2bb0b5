"""Server options, validated up front from one table: name, default, check, error.

misultin ignored unknown options and failed late on bad values; here a bad
start fails at once, saying which option, what was wrong, and (for a typo)
which option was probably meant.
"""

from __future__ import annotations

import difflib
import inspect
import ipaddress
import pickle
import ssl as ssl_module
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from . import _upgrades
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


def describe(fn: Any) -> str:
    """How an error names a handler: `module.qualname`, as the user wrote it."""
    name = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None)
    if name is None:
        return repr(fn)
    module = getattr(fn, "__module__", None)
    return f"{module}.{name}" if module else str(name)


# The options that hold the user's code: with workers > 1 they go to the
# worker processes by pickle, which sends a function as its module and name.
HANDLERS = ("loop", "asgi", "access_log", "upgrades")


def _check_pickles(values: dict[str, Any]) -> None:
    """With workers > 1, refuse at start a handler a worker could not
    import (a lambda, a function defined inside another), naming it."""
    handlers = [(name, values[name]) for name in HANDLERS if name != "upgrades"]
    handlers += [(f"upgrades[{t!r}]", p) for t, p in values["upgrades"].items()]
    for name, fn in handlers:
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


class AppByName:
    """An ASGI app object (a FastAPI instance, say) on its way to the worker
    processes: pickle sends a function by its module and name, but an
    object by value, which an app's state does not survive. This sends it
    by name; the worker imports it (`resolve`)."""

    __slots__ = ("module", "name")

    def __init__(self, module: str, name: str) -> None:
        self.module = module
        self.name = name

    def __repr__(self) -> str:
        return f"{self.module}:{self.name}"

    def resolve(self) -> Any:
        import importlib

        return getattr(importlib.import_module(self.module), self.name)


def by_name(app: Any) -> Any:
    """`app` itself if it pickles by reference (a module-level function), else
    an `AppByName` for the module-level name it is bound to."""
    if isinstance(app, AppByName) or inspect.isfunction(app):
        return app
    import sys

    for module_name, module in list(sys.modules.items()):
        if module_name == "__main__" or module is None:
            continue
        for name, value in list(getattr(module, "__dict__", {}).items()):
            if value is app and not name.startswith("__"):
                target = "__main__" if module_name == "__mp_main__" else module_name
                return AppByName(target, name)
    main = sys.modules.get("__main__")
    for name, value in list(getattr(main, "__dict__", {}).items()):
        if value is app:
            return AppByName("__main__", name)
    raise ValueError(
        f"bad server option asgi={describe(app)}: with workers > 1 it goes to the worker"
        " processes by name, and it is bound to no module-level name they can import"
    )


def _is_http(v: Any) -> bool:
    return v in ("auto", "h11") or (v == "httptools" and have_httptools())


def _is_upgrades(v: Any) -> bool:
    return isinstance(v, dict) and all(
        isinstance(token, str) and token == token.lower() and hasattr(p, "serve")
        for token, p in v.items()
    )


def _is_root_path(v: Any) -> bool:
    return isinstance(v, str) and (v == "" or (v.startswith("/") and not v.endswith("/")))


def positional_arity(fn: Any) -> int | None:
    """How many positional arguments `fn` takes without defaults (None if
    its signature cannot be read): 1 for a misultin loop(req), 3 for an
    ASGI app(scope, receive, send)."""
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):
        return None
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return sum(
        1
        for p in signature.parameters.values()
        if p.kind in kinds and p.default is inspect.Parameter.empty
    )


def takes(fn: Any, count: int) -> bool:
    """Whether `fn` can be called with `count` positional arguments (True
    when its signature cannot be read): a handler that takes none is
    refused at start, not at every request. A wrapper (a partial given
    `fn`'s name with `functools.update_wrapper`) passes if either its own
    signature or the wrapped one's takes them."""
    for follow in (True, False):
        try:
            signature = inspect.signature(fn, follow_wrapped=follow)
        except (TypeError, ValueError):
            return True  # no signature to read
        try:
            signature.bind(*range(count))
        except TypeError:
            continue
        return True
    return False


def _is_loop(v: Any) -> bool:
    return is_async_callable(v) and positional_arity(v) != 3 and takes(v, 1)  # 3: an ASGI app


def is_asgi_app(v: Any) -> bool:
    """An ASGI 3 application: `async def app(scope, receive, send)`, or an
    object whose `__call__` is one (FastAPI, Starlette)."""
    if v is None:
        return True
    return is_async_callable(v) and positional_arity(v) != 1 and takes(v, 3)  # 1: a loop


def _is_fd(v: Any) -> bool:
    return v is None or _is_int(0)(v)


def _is_metrics(v: Any) -> bool:
    return v is None or _is_int(0, 65535)(v)


# name, default, check, what a good value is
_TABLE: list[tuple[str, Any, Callable[[Any], bool], str]] = [
    ("loop", None, _is_loop, "an async function taking a Req"),
    # An ASGI 3 app instead of `loop`: http, websocket and lifespan scopes (see _asgi).
    ("asgi", None, is_asgi_app, "an ASGI 3 application: async (scope, receive, send)"),
    # Where the ASGI app is mounted behind a proxy: scope["root_path"].
    ("root_path", "", _is_root_path, "'' or a path such as '/api' (no trailing slash)"),
    # The ASGI lifespan scope: "auto" runs it and goes on without it if the app
    # raises; "on" makes that a failed startup; "off" never runs it.
    ("lifespan", "auto", lambda v: v in ("auto", "on", "off"), "'auto', 'on' or 'off'"),
    ("ip", "0.0.0.0", _is_ip, "an IPv4 or IPv6 address such as '127.0.0.1' or '::1'"),
    ("port", 80, _is_int(0, 65535), "an int from 0 to 65535 (0 picks a free port)"),
    # A listening socket inherited from the parent process (systemd's socket
    # activation, the command line's --reload): served instead of ip and port.
    ("fd", None, _is_fd, "None or the file descriptor of a listening TCP socket"),
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
    (
        "handle_signals",
        True,
        _is_bool,
        "True (SIGTERM / SIGINT drain, then exit 0; SIGHUP replaces the workers) or False",
    ),
    # Prometheus's text format at /metrics on a listener of its own (see _metrics).
    ("metrics", None, _is_metrics, "None or a port from 0 to 65535 (0 picks a free port)"),
    # Upgrade token -> the protocol that takes the connection over (httpserver.lowlevel).
    (
        "upgrades",
        {},
        _is_upgrades,
        "a dict of lowercase upgrade tokens to protocols, e.g. {'websocket':"
        " websocket.protocol(ws_loop)}",
    ),
]


@dataclass(frozen=True, slots=True)
class Options:
    """The validated options of one server. Build it with `Options.of(...)`."""

    loop: Callable[..., Any] | None
    asgi: Callable[..., Any] | None
    root_path: str
    lifespan: str
    ip: str
    port: int
    fd: int | None
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
    metrics: int | None
    upgrades: dict[str, Any]

    @classmethod
    def of(cls, given: dict[str, Any]) -> Options:
        """Check every option of `given` against the table; fill in defaults.
        Options of an upgrade protocol (`ws_loop`, `ws_max_message`, ...) go to
        the protocol their entry point builds (see `_upgrades`)."""
        known = {row[0]: row for row in _TABLE}
        given, upgrades = _upgrade_shorthands(given, known)
        if given.get("loop") is None and given.get("asgi") is None:
            raise TypeError(
                "the server option 'loop' is required: an async function taking a Req"
                " (or 'asgi', an ASGI 3 application)"
            )
        if given.get("loop") is not None and given.get("asgi") is not None:
            raise TypeError("give the server option 'loop' or 'asgi', not both")
        values = {}
        for name, default, check, good in _TABLE:
            value = given.get(name, default)
            if name in given and not check(value):
                raise ValueError(_bad_value(name, value, good))
            values[name] = value
        if upgrades:
            values["upgrades"] = {**upgrades, **values["upgrades"]}
        if values["workers"] > 1:
            if values["asgi"] is not None:
                values["asgi"] = by_name(values["asgi"])
            _check_pickles(values)
        values["trusted_proxies"] = tuple(values["trusted_proxies"])
        if values["proxy_protocol"] and not values["trusted_proxies"]:
            raise ValueError(
                "bad server options: proxy_protocol=True needs trusted_proxies, the addresses"
                " of the proxies that send the PROXY line (e.g. ['127.0.0.1'] or ['10.0.0.0/8'])"
            )
        if values["static"] is not None:
            values["static"] = str(Path(values["static"]).resolve())
        return cls(**values)


def _bad_value(name: str, value: Any, good: str) -> str:
    """The words for a bad value; a handler of the wrong kind is named, and
    told what it looks like (a plain function, or the other interface)."""
    if name in HANDLERS and callable(value):
        arity = positional_arity(value)
        if name == "loop" and arity == 3:
            return (
                f"bad server option loop={describe(value)}: it takes (scope, receive, send),"
                " so it is an ASGI app: pass it as asgi= (--interface asgi)"
            )
        if name == "asgi" and arity == 1:
            return (
                f"bad server option asgi={describe(value)}: it takes one argument, so it is"
                " a misultin loop(req): pass it as loop= (--interface misultin)"
            )
        if not is_async_callable(value):
            return (
                f"bad server option {name}={describe(value)}: it must be {good},"
                " and it is a plain function: declare it with `async def`"
            )
        wanted = {"loop": (1, "(req)"), "asgi": (3, "(scope, receive, send)")}.get(name)
        if wanted is not None and not takes(value, wanted[0]):
            short = getattr(value, "__name__", name)
            return (
                f"bad server option {name}={describe(value)}: it must be {good}, and"
                f" {short}{_signature(value)} cannot be called so:"
                f" declare it `async def {short}{wanted[1]}`"
            )
    return f"bad server option {name}={value!r}: it must be {good}"


def _signature(fn: Any) -> str:
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):
        return "(...)"
    return str(signature.replace(return_annotation=inspect.Signature.empty))


def _upgrade_shorthands(
    given: dict[str, Any], known: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split misultin's shorthand (`ws_loop=...`, `ws_...=`) from the
    server's own options, and build the protocols it names through their
    entry points. An ASGI app gets the WebSocket protocol without asking."""
    own: dict[str, Any] = {}
    by_token: dict[str, dict[str, Any]] = {}
    for key, value in given.items():
        if key in known:
            own[key] = value
            continue
        token = _upgrades.owner(key)
        if token is None:
            rows = [*known, *(row[0] for row in _upgrades.shorthand_rows())]
            close = difflib.get_close_matches(key, rows, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise TypeError(f"unknown server option {key!r}{hint}")
        by_token.setdefault(token, {})[key] = value
    if by_token and own.get("upgrades"):
        raise TypeError(
            f"give the options {sorted(k for opts in by_token.values() for k in opts)} to the"
            " protocol in upgrades=, not beside it"
        )
    if own.get("asgi") is not None:  # every shorthand protocol serves an ASGI app
        for token in _upgrades.shorthands():
            by_token.setdefault(token, {})
    if not by_token:
        return own, {}  # (no entry point loaded for a server that needs none)
    factories = _upgrades.shorthands()
    built = {}
    for token, options in by_token.items():
        protocol = factories[token](**options)  # checks its options, in the same words
        # A misultin server hands over only to a protocol with a handler of
        # its own (ws_loop): without one, upgrade requests reach `loop`.
        if own.get("asgi") is not None or protocol.handles_loop:
            built[token] = protocol
    return own, built


assert [f.name for f in fields(Options)] == [row[0] for row in _TABLE]
