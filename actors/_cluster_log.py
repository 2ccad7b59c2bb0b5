"""Saying what went wrong on the wire, once.

Whoever can write to Redis can write the same bad entry a million times:
each kind of complaint is logged the first time, then counted, and the
count said at most once a minute, so a flood of garbage costs a node a
dict lookup per entry, not a log line.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Hashable
from typing import Any, Final

__all__ = ["Complaints"]

_QUIET: Final = 60.0  # seconds between two reports of one kind
_KINDS: Final = 1000  # kinds remembered at most


class Complaints:
    def __init__(self, logger: logging.Logger) -> None:
        self._logger = logger
        self._seen: dict[Hashable, list[Any]] = {}  # kind -> [count, last logged at]

    def once(self, kind: Hashable, message: str, *args: Any) -> None:
        """Log `message` if `kind` was not logged in the last minute; else
        count it, and say how many were skipped when it is logged again."""
        now = time.monotonic()
        seen = self._seen.get(kind)
        if seen is None:
            if len(self._seen) >= _KINDS:
                self._seen.clear()
            self._seen[kind] = [0, now]
            self._logger.error(message, *args)
            return
        seen[0] += 1
        if now - seen[1] >= _QUIET:
            self._logger.error(message + " (and %d more like it)", *args, seen[0])
            seen[0], seen[1] = 0, now
