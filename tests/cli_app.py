"""Handlers for the command-line tests (tests/test_cli.py), by module:function."""

from __future__ import annotations

import json
import logging
import os

import actors
import httpserver


async def which_process(req: httpserver.Req) -> None:
    """Answers with the pid of the OS process that served it (a worker's)."""
    await req.ok(str(os.getpid()), headers={"Connection": "close"})


async def log_level(req: httpserver.Req) -> None:
    """Answers with its pid and the httpserver logger's level there."""
    level = logging.getLogger("httpserver").getEffectiveLevel()
    await req.ok(f"{os.getpid()} {level}", headers={"Connection": "close"})


async def node_view(req: httpserver.Req) -> None:
    """Answers with its pid and the name of its node (NAME.wN in a worker
    that joined the main process's cluster)."""
    view = {"pid": os.getpid(), "node": actors.node_name()}
    await req.ok(json.dumps(view), headers={"Connection": "close"})


def plain(req: httpserver.Req) -> None:
    """A handler declared with `def`: the server refuses it at start."""


async def no_argument() -> None:
    """A handler that takes no Req: the server refuses it at start."""


async def crashes_on_boom(req: httpserver.Req) -> None:
    """/boom raises (a crash in the handler); anything else answers "fine"."""
    if req.path == "/boom":
        raise ValueError("on purpose")
    await req.ok("fine")
