"""What the page receives: any value the actors layer returns, made JSON.

A Pid is its str (`<0.42.0>`), as Erlang's observer prints it; a Ref, an
exception or any other object is its `actors.lowlevel.describe` text (its
repr, but a partial or a child spec named by its function, never shown
with its arguments, which may be secrets). Values come from other nodes,
from users' states and from requests, so nothing here trusts their size:
deep or long values are cut, and the cut is said (`"..."`), never hidden;
and a string that is not valid Unicode (a lone surrogate, which
`json.loads` makes of "\\ud800") has its bad characters replaced, so that
every answer encodes.
"""

from __future__ import annotations

import json
import math
from typing import Any, Final

import actors
import actors.lowlevel

__all__ = ["dumps", "jsonable"]

# For what a process holds (a state, a message): shown, never computed with.
MAX_DEPTH: Final = 8
MAX_ITEMS: Final = 200  # per list or dict
MAX_TEXT: Final = 2000  # characters per string
# For a snapshot, whose lists are bounded where they are made (max_processes)
# and whose trees nest a level per supervisor.
SNAPSHOT_DEPTH: Final = 64


def _text(value: str) -> str:
    if len(value) > MAX_TEXT:
        value = value[:MAX_TEXT] + "..."
    if not value.isascii():
        try:
            value.encode()
        except UnicodeEncodeError:  # lone surrogates
            value = value.encode(errors="replace").decode()
    return value


def _describe(value: Any) -> str:
    return _text(actors.lowlevel.describe(value, MAX_TEXT))


def jsonable(value: Any, depth: int = 0, items: int = MAX_ITEMS, deepest: int = MAX_DEPTH) -> Any:
    """`value` as plain JSON types (dict with str keys, list, str, number,
    bool, None), cut past `deepest` levels, `items` items per list or dict,
    and MAX_TEXT characters per string."""
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, str):
        return _text(value)
    if isinstance(value, actors.Pid):
        return str(value)
    if depth >= deepest:
        return _describe(value)
    depth += 1
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for i, (key, item) in enumerate(value.items()):
            if i == items:
                out["..."] = f"{len(value) - items} more"
                break
            name = _text(key) if isinstance(key, str) else _describe(key)
            out[name] = jsonable(item, depth, items, deepest)
        return out
    if isinstance(value, list | tuple | set | frozenset):
        listed = list(value) if not isinstance(value, set | frozenset) else sorted(value, key=repr)
        cut = [jsonable(item, depth, items, deepest) for item in listed[:items]]
        if len(listed) > items:
            cut.append(f"... {len(listed) - items} more")
        return cut
    return _describe(value)


def dumps(value: Any, items: int = MAX_ITEMS, deepest: int = MAX_DEPTH) -> str:
    """`value` as compact JSON text (see `jsonable` for the cuts)."""
    return json.dumps(jsonable(value, 0, items, deepest), separators=(",", ":"), ensure_ascii=False)
