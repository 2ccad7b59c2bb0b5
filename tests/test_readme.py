"""Every Python code block in README.md runs as written (see
tests/doc_blocks.py for what that means), and its Examples section lists
every example."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import RedisServer
from tests.doc_blocks import blocks, check_not_run_blocks, run_block
from tests.http_helpers import ROOT

README = (ROOT / "README.md").read_text()
BLOCKS = blocks(README).run


def test_blocks_that_are_not_run_say_why_and_are_few() -> None:
    check_not_run_blocks(README, "README.md")


@pytest.mark.parametrize("block", BLOCKS, ids=[f"block{i}" for i in range(len(BLOCKS))])
async def test_a_readme_code_block_runs_as_written(
    block: str, redis_server: RedisServer, tmp_path: Path
) -> None:
    await run_block(block, redis_server.url(), tmp_path)


def test_every_example_is_listed_with_a_line_on_what_it_shows() -> None:
    section = README.split("\n## Examples\n", 1)[1].split("\n## ", 1)[0]
    described = set(re.findall(r"^- `(\w+)`(?:, `(\w+)`)?: \S", section, re.M))
    listed = {name for pair in described for name in pair if name}
    examples = {
        path.stem for path in (ROOT / "examples").glob("*.py") if not path.stem.startswith("_")
    }
    assert examples - listed == set(), "examples missing from README's Examples section"
    assert listed - examples == set(), "README lists examples that do not exist"
