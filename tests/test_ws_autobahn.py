"""RFC 6455 conformance: the Autobahn TestSuite cases (via kosoku) against
examples.websocket_echo, with and without permessage-deflate.

CI runs every group, 12.* and 13.* sampled (12.1.*, 13.1.*: the full
compression groups take minutes); `python -m bench.autobahn` runs them all.
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest
import trio

from bench.autobahn import PLAIN_CASES, run_cases, tally
from tests.http_helpers import example


async def conformance(compress: bool, cases: Sequence[str]) -> dict[str, dict[str, int]]:
    args = ("--compress",) if compress else ()
    async with example("websocket_echo", *args) as server:
        url = f"ws://127.0.0.1:{server.port}"
        with trio.fail_after(600):
            results = await trio.to_thread.run_sync(run_cases, url, cases)
    assert results, "no case ran"
    return tally(results)


@pytest.mark.parametrize(
    ("compress", "cases"),
    [(False, PLAIN_CASES), (True, [*PLAIN_CASES, "12.1.*", "13.1.*"])],
    ids=["plain", "permessage-deflate"],
)
async def test_autobahn_every_group_has_no_failed_unimplemented_or_non_strict(
    compress: bool, cases: list[str]
) -> None:
    counts = await conformance(compress, cases)
    expected = {c.split(".")[0] for c in cases}
    assert set(counts) == expected
    for group, group_counts in counts.items():
        assert set(group_counts) <= {"OK", "INFORMATIONAL"}, (group, group_counts)
