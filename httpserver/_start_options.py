"""`StartOptions`: the keyword options of `start` / `start_link`, as types.

The options table (`_options._TABLE`, and the `ws_*` shorthand options of
the protocol the `websocket` entry point builds) is what the server checks
at run time; this TypedDict is what an editor completes and a type checker
checks before it runs (`start(**options: Unpack[StartOptions])`, PEP 692).
tests/test_install.py keeps the two in step: the same names, and every
default of the tables accepted by the types.

The `ws_*` keys are declared here by name and type only: httpserver
imports nothing of websocket (a WebSocket handler is typed as taking
`Any`, which a function taking a `websocket.Ws` matches).
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, Literal, TypedDict

if TYPE_CHECKING:
    from ._req import AccessLog, Req
    from .lowlevel import UpgradeProtocol

__all__ = ["StartOptions"]

_Strings = list[str] | tuple[str, ...] | set[str] | frozenset[str]


class StartOptions(TypedDict, total=False):
    """The options of `httpserver.start(**options)` and `start_link`, each
    optional (`loop` or `asgi` is needed). What each means and its default:
    the HTTP guide, or `python -m httpserver --help`."""

    loop: Callable[[Req], Awaitable[object]] | None
    asgi: Callable[..., Awaitable[object]] | None
    root_path: str
    lifespan: Literal["auto", "on", "off"]
    ip: str
    port: int
    fd: int | None
    name: object
    backlog: int
    max_connections: int
    post_max_size: int
    get_url_max_size: int
    http: Literal["auto", "h11", "httptools"]
    recv_timeout: float
    body_min_rate: float
    send_timeout: float
    compress: bool
    static: str | os.PathLike[str] | None
    ssl: ssl.SSLContext | Mapping[str, str] | None
    access_log: Callable[[AccessLog], object] | None
    auto_recv_body: bool
    autoexit: bool
    sessions_expire: float
    sessions_max_age: float
    sessions_max: int
    proxy_protocol: bool
    trusted_proxies: _Strings
    shutdown_timeout: float
    workers: int
    handle_signals: bool
    metrics: int | None
    upgrades: Mapping[str, UpgradeProtocol]
    # The shorthand for upgrades={"websocket": websocket.protocol(ws_loop, ...)}.
    ws_loop: Callable[[Any], Awaitable[object]] | None
    ws_autoexit: bool
    ws_max_message: int
    ws_max_queue: int
    ws_max_fragments: int
    ws_max_pending: tuple[int, int] | list[int]
    ws_ping_interval: float
    ws_ping_timeout: float
    ws_compress: bool
    ws_origins: _Strings | None
    ws_subprotocols: _Strings
    ws: Literal["auto", "wsproto", "websockets"]
