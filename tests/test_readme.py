"""Every Python code block in README.md runs as written: a program ends
with status 0, one that starts a server on port 8080 answers there, and a
block of tests (one that imports pytest) passes under pytest.

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

import pytest
import trio

from tests.conftest import RedisServer
from tests.http_helpers import ROOT, fetch

README = (ROOT / "README.md").read_text()
BLOCK = re.compile(r"(?:<!-- not run: (?P<why>.+?) -->\n)?```python\n(?P<code>.*?)```", re.S)
FOUND = [(m["code"], m["why"]) for m in BLOCK.finditer(README)]
BLOCKS = [code for code, why in FOUND if why is None]
NOT_RUN = [code for code, why in FOUND if why is not None]


def test_blocks_that_are_not_run_say_why_and_are_few() -> None:
    assert len(BLOCKS) + len(NOT_RUN) == README.count("```python")
    assert len(NOT_RUN) <= len(BLOCKS) // 4, "prefer blocks that run"
    # the marker is found only right before a block
    assert README.count("<!-- not run: ") == len(NOT_RUN)


@pytest.mark.parametrize("block", BLOCKS, ids=[f"block{i}" for i in range(len(BLOCKS))])
async def test_a_readme_code_block_runs_as_written(
    block: str, redis_server: RedisServer, tmp_path: Path
) -> None:
    env = {**os.environ, "REDIS_URL": redis_server.url()}  # the cluster block's Redis
    argv = [sys.executable, "-c", block]
    if re.search(r"^import pytest$", block, re.M):  # tests, as a user would run them
        (tmp_path / "test_from_readme.py").write_text(block)
        argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)]
    process = await trio.lowlevel.open_process(
        argv,
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        with trio.fail_after(20):
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


def test_every_example_is_listed_with_a_line_on_what_it_shows() -> None:
    section = README.split("\n## Examples\n", 1)[1].split("\n## ", 1)[0]
    described = set(re.findall(r"^- `(\w+)`(?:, `(\w+)`)?: \S", section, re.M))
    listed = {name for pair in described for name in pair if name}
    examples = {
        path.stem for path in (ROOT / "examples").glob("*.py") if not path.stem.startswith("_")
    }
    assert examples - listed == set(), "examples missing from README's Examples section"
    assert listed - examples == set(), "README lists examples that do not exist"
