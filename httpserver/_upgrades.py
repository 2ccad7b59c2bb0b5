"""The upgrade protocols a server hands connections to, and the shorthand
that finds them without importing them.

A server takes `upgrades={"websocket": protocol}`: when a request asks to
upgrade (`Connection: upgrade`, `Upgrade: TOKEN`) to a token of the table,
the connection is handed to that protocol once the request loop is left
(cowboy's switch_protocol). httpserver knows no protocol by name: misultin's
spelling `start(loop=..., ws_loop=..., ws_max_message=...)` is resolved
through the entry points of the group `trio_misultin.upgrades`, which the
packages above declare in pyproject.toml (`websocket = "websocket:protocol"`).
An entry point's object builds a protocol from keyword options and lists
them in `options_table` (rows of name, default, check, what a good value is)
and says what each is for in `options_help`, so that `start` and the
command line know those options without importing the package that owns
them.
"""

from __future__ import annotations

from functools import cache
from importlib.metadata import entry_points
from typing import Any, Final

__all__ = ["GROUP", "shorthand_help", "shorthand_rows", "shorthands"]

GROUP: Final = "trio_misultin.upgrades"


@cache
def shorthands() -> dict[str, Any]:
    """Upgrade token -> the factory its entry point names (loaded once)."""
    found: dict[str, Any] = {}
    for point in entry_points(group=GROUP):
        found[point.name] = point.load()
    return found


def shorthand_rows() -> list[tuple[str, Any, Any, str]]:
    """The options of every shorthand protocol, as rows of the options table."""
    rows: list[tuple[str, Any, Any, str]] = []
    for factory in shorthands().values():
        rows.extend(getattr(factory, "options_table", ()))
    return rows


def shorthand_help() -> dict[str, str]:
    """What each option of a shorthand protocol is for (its `options_help`)."""
    found: dict[str, str] = {}
    for factory in shorthands().values():
        found.update(getattr(factory, "options_help", {}))
    return found


def owner(option: str) -> str | None:
    """The upgrade token whose protocol owns `option`, if any."""
    for token, factory in shorthands().items():
        if any(row[0] == option for row in getattr(factory, "options_table", ())):
            return token
    return None
