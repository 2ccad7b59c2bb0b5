"""Readable logs for a program that has not configured logging.

Crash and supervisor reports go through `logging` (logger `actors`; the
layers above log under their own names, `httpserver` for one). With logging
unconfigured, Python's last-resort handler prints them bare: no time, no
level, no logger name. `actors.run` (and the command line) install a
handler with those on these loggers themselves, as uvicorn does for its
own, never on the root logger, which stays the application's. A program
that configured logging (handlers on the root logger, or on one of ours)
gets nothing installed; one that configures the root logger later still
gets each record once: the installed handler stands aside from then on.

A layer above names its logger with `add_logger` when it is imported
(actors knows nothing of the layers above, not even their names).
"""

from __future__ import annotations

import logging
import sys
from typing import Final

__all__ = ["FORMAT", "add_logger", "install", "logger_names"]

FORMAT: Final = "%(asctime)s %(levelname)s %(name)s: %(message)s"

_names: list[str] = ["actors"]
_installed: list[logging.Handler] = []  # the handler, once installed
_level: list[int | str] = []  # the level `install` was given, if any


class _Default(logging.StreamHandler):  # type: ignore[type-arg]
    """The handler `install` puts on our loggers."""

    def filter(self, record: logging.LogRecord) -> bool:
        # The application configured the root logger after we installed
        # this: the record reaches its handlers by propagation; not twice.
        if logging.getLogger().handlers:
            return False
        return super().filter(record)


def logger_names() -> list[str]:
    """The loggers `install` looks after: `actors`, and those added."""
    return list(_names)


def add_logger(name: str) -> None:
    """Have `install` look after the logger `name` too (a layer above
    calls it when imported)."""
    if name in _names:
        return
    _names.append(name)
    if _level:
        logging.getLogger(name).setLevel(_level[0])
    if _installed:
        logging.getLogger(name).addHandler(_installed[0])


def configured() -> bool:
    """Whether the application (or an earlier `install`) set up logging."""
    if logging.getLogger().handlers:
        return True
    return any(logging.getLogger(name).handlers for name in _names)


def install(level: int | str | None = None) -> bool:
    """Give our loggers a stderr handler with time, level and logger name,
    unless logging is configured already; `level` (e.g. "info") sets
    theirs. Returns whether it installed one."""
    if level is not None:
        _level[:] = [level.upper() if isinstance(level, str) else level]
        for name in _names:
            logging.getLogger(name).setLevel(_level[0])
    if configured():
        return False
    handler = _Default(sys.stderr)
    handler.setFormatter(logging.Formatter(FORMAT))
    _installed.append(handler)
    for name in _names:
        logging.getLogger(name).addHandler(handler)
    return True
