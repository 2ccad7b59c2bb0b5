"""Handlers for the command-line tests (tests/test_cli.py), by module:function."""

from __future__ import annotations

import logging
import os

import httpserver


async def which_process(req: httpserver.Req) -> None:
    """Answers with the pid of the OS process that served it (a worker's)."""
    await req.ok(str(os.getpid()), headers={"Connection": "close"})


async def log_level(req: httpserver.Req) -> None:
    """Answers with its pid and the httpserver logger's level there."""
    level = logging.getLogger("httpserver").getEffectiveLevel()
    await req.ok(f"{os.getpid()} {level}", headers={"Connection": "close"})


def plain(req: httpserver.Req) -> None:
    """A handler declared with `def`: the server refuses it at start."""
