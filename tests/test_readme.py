"""Every Python code block in README.md runs as written: a program ends
with status 0, and one that starts a server on port 8080 answers there."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
import trio

from tests.conftest import RedisServer
from tests.http_helpers import ROOT, fetch

BLOCKS = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)


@pytest.mark.parametrize("block", BLOCKS, ids=[f"block{i}" for i in range(len(BLOCKS))])
async def test_a_readme_code_block_runs_as_written(block: str, redis_server: RedisServer) -> None:
    env = {**os.environ, "REDIS_URL": redis_server.url()}  # the cluster block's Redis
    process = await trio.lowlevel.open_process(
        [sys.executable, "-c", block],
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
