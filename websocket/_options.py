"""The WebSocket options (`ws_*`), validated from one table, as httpserver's are.

They belong to this package, not to the HTTP server: `websocket.protocol(ws_loop,
**options)` checks them, and httpserver's shorthand `start(ws_loop=..., ws_...=...)`
hands them here through the upgrade protocol it finds by its entry point. The
command line takes its `--ws-*` flags from `TABLE` the same way.
"""

from __future__ import annotations

import difflib
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any

from httpserver.lowlevel import describe, is_async_callable

__all__ = ["HELP", "TABLE", "WsOptions"]


def _is_int(low: int) -> Callable[[Any], bool]:
    return lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= low


def _is_seconds(v: Any) -> bool:
    """More than 0 and at most 1e9 (about 31 years): `inf` and `nan` are refused."""
    return isinstance(v, int | float) and not isinstance(v, bool) and 0 < v <= 1e9


def _is_bool(v: Any) -> bool:
    return isinstance(v, bool)


def _is_async_or_none(v: Any) -> bool:
    return v is None or is_async_callable(v)


def _is_strings(v: Any) -> bool:
    return isinstance(v, list | tuple | set | frozenset) and all(isinstance(o, str) for o in v)


def _is_origins(v: Any) -> bool:
    return v is None or _is_strings(v)


def _is_ws(v: Any) -> bool:
    if v == "websockets":
        return importlib.util.find_spec("websockets") is not None
    return v in ("auto", "wsproto")


def _is_pending(v: Any) -> bool:
    return isinstance(v, tuple | list) and len(v) == 2 and all(_is_int(1)(n) for n in v)


# name, default, check, what a good value is
TABLE: list[tuple[str, Any, Callable[[Any], bool], str]] = [
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
    ("ws_subprotocols", (), _is_strings, "a list of subprotocols the server speaks"),
    # The frame decoder: "auto" takes our own decoder on the websockets
    # library's C masking when that library is installed, else wsproto.
    (
        "ws",
        "auto",
        _is_ws,
        "'auto', 'wsproto' or 'websockets' (our frame decoder on the websockets library's"
        " C masking, which needs that library: the speedups extra)",
    ),
]


# What each option is for: the command line's --help (httpserver reads it
# through the entry point, as it reads TABLE).
HELP: dict[str, str] = {
    "ws_loop": "the WebSocket handler, run in a process of its own for each socket",
    "ws_autoexit": "end the handler when its socket closes (--no-ws-autoexit: it gets 'closed')",
    "ws_max_message": "the largest message from a client, in bytes (1009 past it)",
    "ws_max_queue": "bytes queued to send to one client at most (closed with 1008 past it)",
    "ws_max_fragments": "fragments of one message at most",
    "ws_max_pending": "messages and bytes waiting for the handler before the socket stops reading",
    "ws_ping_interval": "seconds between pings to an idle socket",
    "ws_ping_timeout": "seconds a client has to answer a ping",
    "ws_compress": "accept permessage-deflate when a client offers it",
    "ws_origins": "the Origin values a browser may connect from (default: any)",
    "ws_subprotocols": "the subprotocols the server speaks, in its order of preference",
    "ws": "the WebSocket frame decoder",
}


@dataclass(frozen=True, slots=True)
class WsOptions:
    """The validated options of one WebSocket protocol. Build it with `WsOptions.of`."""

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
    ws_subprotocols: tuple[str, ...]
    ws: str

    @classmethod
    def of(cls, given: dict[str, Any]) -> WsOptions:
        """Check every option of `given` against the table; fill in defaults.
        The words are httpserver's, so that the shorthand reads the same."""
        known = {row[0]: row for row in TABLE}
        for key in given:
            if key not in known:
                close = difflib.get_close_matches(key, known, n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                raise TypeError(f"unknown WebSocket option {key!r}{hint}")
        values = {}
        for name, default, check, good in TABLE:
            value = given.get(name, default)
            if name in given and not check(value):
                if name == "ws_loop" and callable(value):
                    raise ValueError(
                        f"bad server option ws_loop={describe(value)}: it must be {good},"
                        " and it is a plain function: declare it with `async def`"
                    )
                raise ValueError(f"bad server option {name}={value!r}: it must be {good}")
            values[name] = value
        values["ws_max_pending"] = tuple(values["ws_max_pending"])
        values["ws_subprotocols"] = tuple(values["ws_subprotocols"])
        return cls(**values)


assert [f.name for f in fields(WsOptions)] == [row[0] for row in TABLE]
