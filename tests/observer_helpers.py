"""Observer test helpers: an observer on a free port of the test's node, the
snapshots a page receives, a kill as the page's script sends it, and
`python -m observer` in an OS process of its own."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from typing import Any

import trio

import actors
import observer
from tests.cluster_helpers import ROOT
from tests.http_helpers import Response, fetch
from tests.ws_helpers import WsClient

LINE = re.compile(rb"observer on (http://[^/\s]+/) kill token: (\S+)")

# What the page's script sends with a kill: a JSON body, from its own origin
# (tests.http_helpers sends "Host: localhost").
PAGE_KILL = (("Content-Type", "application/json"), ("Origin", "http://localhost"))


@asynccontextmanager
async def observing(**options: Any) -> AsyncIterator[tuple[actors.Pid, int]]:
    """An observer on a free port of this node; yield its Pid and port."""
    options.setdefault("announce", False)
    pid = await observer.start_link(port=0, **options)
    try:
        yield pid, observer.info(pid)["port"]
    finally:
        actors.unlink(pid)
        actors.exit(pid, "shutdown")


async def snapshot_where(
    client: WsClient, wanted: Callable[[dict[str, Any]], bool], timeout: float = 5
) -> dict[str, Any]:
    """The first snapshot pushed to `client` for which `wanted` holds."""
    with trio.fail_after(timeout):
        while True:
            message = await client.receive()
            assert isinstance(message, str), message
            snap: dict[str, Any] = json.loads(message)
            if snap["type"] == "snapshot" and wanted(snap):
                return snap


def child_of(snap: dict[str, Any], child_id: str) -> dict[str, Any]:
    for tree in snap["trees"]:
        for entry in tree["children"]:
            if entry["id"] == child_id:
                return entry  # type: ignore[no-any-return]
    raise AssertionError(f"no child {child_id!r} in {snap['trees']}")


async def kill(
    port: int, headers: Iterable[tuple[str, str]] = PAGE_KILL, **fields: Any
) -> Response:
    """POST /api/kill with `fields` as its JSON body, as the page sends it."""
    body = json.dumps(fields).encode()
    return await fetch(port, "/api/kill", method="POST", headers=headers, body=body)


@asynccontextmanager
async def observer_program(
    *args: str, env: dict[str, str] | None = None, line: re.Pattern[bytes] = LINE
) -> AsyncIterator[tuple[trio.Process, re.Match[bytes]]]:
    """`python -m observer --port 0 ARGS` (with `env` added to the
    environment); yield it and the match of `line` in what it printed."""
    process = await trio.lowlevel.open_process(
        [sys.executable, "-u", "-m", "observer", "--port", "0", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        env={**os.environ, **(env or {})},
    )
    try:
        assert process.stdout is not None
        out = b""
        with trio.fail_after(20):
            while (found := line.search(out)) is None:
                chunk = await process.stdout.receive_some(4096)
                assert chunk, f"python -m observer ended before it served: {out!r}"
                out += chunk
        yield process, found
    finally:
        process.terminate()
        with trio.CancelScope(shield=True), trio.fail_after(15):
            await process.wait()


def port_of(url: bytes | str) -> int:
    """The port of "http://127.0.0.1:PORT/"."""
    text = url.decode() if isinstance(url, bytes) else url
    return int(text.rstrip("/").rsplit(":", 1)[1])
