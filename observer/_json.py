"""What the page receives: any value the actors layer returns, made JSON.

A Pid is its str (`<0.42.0>`), as Erlang's observer prints it; a Ref, an
exception or any other object is its repr. Values come from other nodes and
from users' states, so nothing here trusts their size: deep or long values
are cut, and the cut is said (`"..."`), never hidden.
"""

from __future__ import annotations

import json
import math
from typing import Any, Final

import actors

__all__ = ["dumps", "jsonable"]

MAX_DEPTH: Final = 8
MAX_ITEMS: Final = 200  # per list or dict
MAX_TEXT: Final = 2000  # characters per string


def _text(value: str) -> str:
    return value if len(value) <= MAX_TEXT else value[:MAX_TEXT] + "..."


def jsonable(value: Any, depth: int = 0) -> Any:
    """`value` as plain JSON types (dict with str keys, list, str, number,
    bool, None), cut at MAX_DEPTH / MAX_ITEMS / MAX_TEXT."""
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, str):
        return _text(value)
    if isinstance(value, actors.Pid):
        return str(value)
    if depth >= MAX_DEPTH:
        return _text(repr(value))
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for i, (key, item) in enumerate(value.items()):
            if i == MAX_ITEMS:
                out["..."] = f"{len(value) - MAX_ITEMS} more"
                break
            out[key if isinstance(key, str) else _text(str(jsonable(key, MAX_DEPTH)))] = jsonable(
                item, depth + 1
            )
        return out
    if isinstance(value, list | tuple | set | frozenset):
        items = list(value) if not isinstance(value, set | frozenset) else sorted(value, key=repr)
        cut = [jsonable(item, depth + 1) for item in items[:MAX_ITEMS]]
        if len(items) > MAX_ITEMS:
            cut.append(f"... {len(items) - MAX_ITEMS} more")
        return cut
    return _text(repr(value))


def dumps(value: Any) -> str:
    """`value` as compact JSON text."""
    return json.dumps(jsonable(value), separators=(",", ":"), ensure_ascii=False)
