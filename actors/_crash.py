"""Crash reports: one `logging` record per crashed process, with traceback.

No NullHandler is installed on purpose: with logging unconfigured, Python's
last-resort handler still prints crash reports to stderr, and a "let it
crash" server whose crashes vanish silently is worse than a noisy one.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._process import Process

__all__ = ["crash_report", "logger"]

logger = logging.getLogger("actors")


def crash_report(proc: Process, exc: BaseException) -> None:
    """Log that `proc` crashed with `exc`."""
    if not logger.isEnabledFor(logging.ERROR):
        return
    fn = getattr(proc.fn, "__qualname__", repr(proc.fn))
    module = getattr(proc.fn, "__module__", None)
    where = f"{module}.{fn}" if module else fn
    extra = []
    if proc.name is not None:
        extra.append(f"registered as {proc.name!r}")
    if proc._links:
        extra.append("linked to " + ", ".join(sorted(repr(p.pid) for p in proc._links)))
    details = f" ({'; '.join(extra)})" if extra else ""
    logger.error(
        "crash report: process %r running %s exited with %r%s",
        proc.pid,
        where,
        exc,
        details,
        exc_info=(type(exc), exc, exc.__traceback__),
    )
