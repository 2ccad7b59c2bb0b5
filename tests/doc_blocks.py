"""Running the Python blocks of a Markdown page as written (the README's,
the documentation site's): a program ends with status 0, one that starts a
server on port 8080 answers there, and a block of tests (one that imports
pytest) passes under pytest.

A block that is not meant to run says why on the line before it, in an
HTML comment that readers of the rendered page do not see:

    <!-- not run: a fragment of the block above -->
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

import trio

from tests.http_helpers import ROOT, fetch

BLOCK = re.compile(r"(?:<!-- not run: (?P<why>.+?) -->\n)?```python\n(?P<code>.*?)```", re.S)
NOT_RUN_MARK = "<!-- not run: "


class Blocks(NamedTuple):
    """The Python blocks of one page: those that run, and those that say why not."""

    run: list[str]
    not_run: list[str]


def blocks(text: str) -> Blocks:
    found = [(m["code"], m["why"]) for m in BLOCK.finditer(text)]
    return Blocks([c for c, why in found if why is None], [c for c, why in found if why])


def check_not_run_blocks(text: str, where: str) -> None:
    """Every block is found; those not run say why, right before the block,
    and are few."""
    found = blocks(text)
    assert len(found.run) + len(found.not_run) == text.count("```python"), where
    assert len(found.not_run) <= len(found.run) // 4, f"{where}: prefer blocks that run"
    assert text.count(NOT_RUN_MARK) == len(found.not_run), f"{where}: a stray not-run mark"


async def run_block(block: str, redis_url: str, tmp_path: Path) -> None:
    """Run one block as a user would, from the clone's top directory."""
    env = {**os.environ, "REDIS_URL": redis_url}  # a cluster block's Redis
    argv = [sys.executable, "-c", block]
    if re.search(r"^import pytest$", block, re.M):  # tests, as a user would run them
        (tmp_path / "test_from_the_docs.py").write_text(block)
        argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)]
    process = await trio.lowlevel.open_process(
        argv,
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        with trio.fail_after(30):
            if "port=8080" not in block:
                assert await process.wait() == 0
                return
            while True:  # a server: it answers on its port
                try:
                    response = await fetch(8080, "/")
                    break
                except OSError:
                    assert process.poll() is None, "the server exited"
                    await trio.sleep(0.1)
            assert response.status == 200
    finally:
        if process.returncode is None:
            process.kill()
        await process.wait()
