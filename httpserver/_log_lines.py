"""The command line's log: an access line per request, and JSON lines.

As uvicorn's command line does, `python -m httpserver` writes one access
line per request by default (`--no-access-log` stops it), on the logger
`httpserver.access` at INFO, whatever `--log-level` says of the others:

    2026-12-07 05:39:37,816 INFO httpserver.access: 127.0.0.1 "GET /x?y=1 HTTP/1.1" 200 19

`--log-format json` writes every record of our loggers as one JSON object
per line instead (`time`, `level`, `logger`, `message`; an access line
adds `peer`, `request`, `status` and `bytes`; a record with an exception,
a crash report for one, adds `error` and the whole `traceback` as a
field), which a log collector reads without a parser of its own.

Workers (`workers=N`) are fresh interpreters: `settings()` is what they
need to log the same way, and `apply()` sets it up there.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any, Final

import actors.lowlevel

from ._req import AccessLog

__all__ = [
    "ACCESS_LOGGER",
    "JsonFormatter",
    "access_line",
    "apply",
    "enable_access_log",
    "settings",
    "use_json",
]

ACCESS_LOGGER: Final = "httpserver.access"

_access = logging.getLogger(ACCESS_LOGGER)
_format: list[str] = ["text"]  # what the command line chose


def access_line(entry: AccessLog) -> None:
    """The command line's default `access_log`: one record per request on
    the `httpserver.access` logger (a module-level function: it travels
    to the workers by name)."""
    if not _access.isEnabledFor(logging.INFO):
        return
    _access.info(
        '%s "%s" %d %d',
        entry.peer,
        entry.request_line,
        entry.status,
        entry.content_length,
        extra={
            "access": {
                "peer": entry.peer,
                "request": entry.request_line,
                "status": entry.status,
                "bytes": entry.content_length,
            }
        },
    )


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": _iso_time(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        access = getattr(record, "access", None)
        if isinstance(access, dict):
            out.update(access)
        if record.exc_info and record.exc_info[1] is not None:
            out["error"] = repr(record.exc_info[1])
            out["traceback"] = self.formatException(record.exc_info)
        if record.stack_info:
            out["stack"] = self.formatStack(record.stack_info)
        return json.dumps(out, ensure_ascii=False, default=str)


def _iso_time(created: float) -> str:
    seconds = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created))
    return f"{seconds}.{int(created % 1 * 1000):03d}Z"


class _JsonHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The JSON handler the command line puts on our loggers; as the text
    one `actors.run` installs, it stands aside once the root logger has a
    handler of the application's (each record then comes out once)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if logging.getLogger().handlers:
            return False
        return super().filter(record)


def use_json() -> None:
    """Log JSON lines on our loggers (unless the program configured logging
    itself): called by the command line before `actors.run`, whose own
    handler then stands aside."""
    _format[0] = "json"
    if logging.getLogger().handlers:
        return
    handler = _JsonHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    for name in actors.lowlevel.logger_names():
        logging.getLogger(name).addHandler(handler)


def enable_access_log() -> None:
    """Have `access_line` write: INFO on `httpserver.access`, whatever the
    level of the `httpserver` logger above it."""
    _access.setLevel(logging.INFO)


def settings() -> dict[str, Any]:
    """What a worker process needs to log as this process does."""
    return {"format": _format[0], "access": _access.level}


def apply(given: dict[str, Any]) -> None:
    """In a worker: log as `settings()` said the main process does."""
    if given.get("access"):
        _access.setLevel(given["access"])
    if given.get("format") == "json":
        use_json()
