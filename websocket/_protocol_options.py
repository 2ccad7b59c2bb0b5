"""`ProtocolOptions`: the keyword options of `websocket.protocol`, as types.

`_options.TABLE` is what the protocol checks at run time; this TypedDict is
what an editor completes and a type checker checks first
(`protocol(ws_loop, **options: Unpack[ProtocolOptions])`, PEP 692).
tests/test_install.py keeps the two in step.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Literal, TypedDict

if TYPE_CHECKING:
    from ._ws import Ws

__all__ = ["ProtocolOptions"]

_Strings = list[str] | tuple[str, ...] | set[str] | frozenset[str]


class ProtocolOptions(TypedDict, total=False):
    """The options of `websocket.protocol(ws_loop, **options)` (and of
    `httpserver.start`'s shorthand), each optional. What each means and its
    default: the WebSockets guide, or `python -m httpserver --help`."""

    ws_loop: Callable[[Ws], Awaitable[object]] | None
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
