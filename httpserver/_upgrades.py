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

An import name can be taken by another distribution: websocket-client
(selenium's dependency) installs a top-level `websocket` too, and installed
after us it is the `websocket` Python imports. An entry point whose module
is then not the one its distribution ships raises `ShadowedError`, one line
that names the module's file, its distribution and the fix, instead of an
AttributeError deep in a server's start.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
from functools import cache
from importlib.metadata import Distribution, EntryPoint, entry_points, packages_distributions
from pathlib import Path
from typing import Any, Final

__all__ = ["GROUP", "ShadowedError", "shadowed", "shorthand_help", "shorthand_rows", "shorthands"]

GROUP: Final = "trio_misultin.upgrades"


class ShadowedError(ImportError):
    """The module an upgrade protocol's entry point names is another
    distribution's, which took its import name (websocket-client's
    `websocket`, say)."""


@cache
def _load() -> tuple[dict[str, Any], dict[str, str]]:
    """(token -> factory, token -> why it is shadowed), loaded once."""
    found: dict[str, Any] = {}
    broken: dict[str, str] = {}
    for point in entry_points(group=GROUP):
        try:
            factory = point.load()
        except (ImportError, AttributeError):
            why = _shadowing(point)
            if why is None:
                raise  # our own module failed: its error says why
            broken[point.name] = why
            continue
        if not hasattr(factory, "options_table"):
            broken[point.name] = _shadowing(point) or f"{point.value} is not an upgrade protocol"
            continue
        found[point.name] = factory
    return found, broken


def shorthands() -> dict[str, Any]:
    """Upgrade token -> the factory its entry point names (loaded once);
    `ShadowedError` if another distribution's module took one's name."""
    found, broken = _load()
    if broken:
        raise ShadowedError(next(iter(broken.values())))
    return found


def shadowed() -> str | None:
    """Why an upgrade protocol cannot be loaded (one line), or None."""
    broken = _load()[1]
    return next(iter(broken.values()), None)


def _shadowing(point: EntryPoint) -> str | None:
    """One line on the module that took `point`'s import name, or None when
    the module Python finds is the one `point`'s distribution ships."""
    name = point.module.partition(".")[0]
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):  # a module in sys.modules without a spec
        return None
    if spec is None or spec.origin is None or point.dist is None:
        return None
    where = Path(spec.origin).resolve()
    ours = point.dist
    if _ships(ours, where):
        return None
    owners = [d for d in packages_distributions().get(name, []) if d != ours.name]
    if owners:
        whose = f"{', '.join(owners)}'s, not {ours.name}'s: both install a top-level {name!r}"
        other = owners[0]
    else:
        whose = f"not {ours.name}'s: something else there is named {name!r}"
        other = "websocket-client"
    fix = f"pip uninstall {other}"
    if not _editable(ours):
        fix += f", then reinstall {ours.name} (its files were overwritten)"
    return (
        f"the module {name!r} Python imports is {where}, {whose}"
        f" (websocket-client, selenium's dependency, installs one); fix: {fix},"
        f" or give {other} a virtual environment of its own"
    )


def _ships(dist: Distribution, path: Path) -> bool:
    """Whether `path` is a file of `dist`: listed in its RECORD with the same
    content (another distribution installed over it changes its hash), or
    under a directory an editable install's .pth file puts on sys.path."""
    for file in dist.files or ():
        located = Path(str(dist.locate_file(file))).resolve()
        if located == path:
            if file.hash is None or file.hash.mode != "sha256":
                return True
            digest = base64.urlsafe_b64encode(hashlib.sha256(path.read_bytes()).digest())
            return digest.rstrip(b"=").decode() == file.hash.value
        if file.suffix == ".pth":
            entries = [line.strip() for line in located.read_text().splitlines()]
            if any(
                entry
                and not entry.startswith(("#", "import "))
                and path.is_relative_to(Path(entry).resolve())
                for entry in entries
            ):
                return True
    return False


def _editable(dist: Distribution) -> bool:
    return '"editable": true' in (dist.read_text("direct_url.json") or "")


def shorthand_rows() -> list[tuple[str, Any, Any, str]]:
    """The options of every shorthand protocol that loads, as rows of the
    options table (a shadowed one has none: see `shadowed`)."""
    rows: list[tuple[str, Any, Any, str]] = []
    for factory in _load()[0].values():
        rows.extend(getattr(factory, "options_table", ()))
    return rows


def shorthand_help() -> dict[str, str]:
    """What each option of a shorthand protocol is for (its `options_help`);
    a shadowed one has none, as in `shorthand_rows`."""
    found: dict[str, str] = {}
    for factory in _load()[0].values():
        found.update(getattr(factory, "options_help", {}))
    return found


def owner(option: str) -> str | None:
    """The upgrade token whose protocol owns `option`, if any."""
    for token, factory in shorthands().items():
        if any(row[0] == option for row in getattr(factory, "options_table", ())):
            return token
    return None
