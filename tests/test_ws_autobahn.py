"""RFC 6455 conformance: the Autobahn TestSuite cases (via kosoku) against
examples.websocket_echo's handler (bench/_ws_echo.py), on each protocol
backend, with and without permessage-deflate.

CI runs every group, 12.* and 13.* sampled (12.1.*, 13.1.*: the full
compression groups take minutes); `python -m bench.autobahn` runs them all.
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest
import trio

from bench.autobahn import PLAIN_CASES, echo_server, run_cases, tally
from tests.ws_helpers import ws_protocol as ws_protocol

pytestmark = pytest.mark.usefixtures("ws_protocol")


def _run(compress: bool, ws: str, cases: Sequence[str]) -> list[object]:
    with echo_server(compress, ws) as port:
        return run_cases(f"ws://127.0.0.1:{port}", cases)


async def conformance(compress: bool, ws: str, cases: Sequence[str]) -> dict[str, dict[str, int]]:
    with trio.fail_after(600):
        results = await trio.to_thread.run_sync(_run, compress, ws, cases)
    assert results, "no case ran"
    return tally(results)


@pytest.mark.parametrize(
    ("compress", "cases"),
    [(False, PLAIN_CASES), (True, [*PLAIN_CASES, "12.1.*", "13.1.*"])],
    ids=["plain", "permessage-deflate"],
)
async def test_autobahn_every_group_has_no_failed_unimplemented_or_non_strict(
    compress: bool, cases: list[str], ws_protocol: str
) -> None:
    counts = await conformance(compress, ws_protocol, cases)
    expected = {c.split(".")[0] for c in cases}
    assert set(counts) == expected
    for group, group_counts in counts.items():
        assert set(group_counts) <= {"OK", "INFORMATIONAL"}, (group, group_counts)
