"""The Autobahn TestSuite cases against examples.websocket_echo's handler
(bench/_ws_echo.py), via kosoku, on each WebSocket protocol backend.

    python -m bench.autobahn [--cases '1.*,2.*'] [--compress on|off|both]
                             [--ws wsproto|websockets|both] [--concurrency 4] [--json]

With no --cases, the whole suite: every group against the plain server,
and every group (12.* and 13.* included: about five minutes here) against
the server that accepts permessage-deflate; with --ws both (the default
when the websockets library is installed), once per backend. Prints, per
server and group, how many cases got each verdict; exits 1 if any case is
FAILED, UNIMPLEMENTED or NON-STRICT. tests/test_ws_autobahn.py runs a
selection of the same in CI.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import itertools
import json
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import kosoku

from websocket._inbound import websockets_available

PLAIN_CASES = ["1.*", "2.*", "3.*", "4.*", "5.*", "6.*", "7.*", "9.*", "10.*"]
DEFLATE_CASES = [*PLAIN_CASES, "12.*", "13.*"]
BAD = ("FAILED", "UNIMPLEMENTED", "NON-STRICT")


async def _run(url: str, cases: Sequence[str], concurrency: int) -> list[Any]:
    try:
        return list(await kosoku.run_fuzzingclient(url, cases=list(cases), concurrency=concurrency))
    except kosoku.FailureError as failure:
        return list(failure.results)


def run_cases(url: str, cases: Sequence[str], concurrency: int = 4) -> list[Any]:
    """Run the cases against `url` (blocking: asyncio, for kosoku)."""
    return asyncio.run(_run(url, cases, concurrency))


def verdict(result: Any) -> str:
    """The worse of a case's two verdicts (FAILED over NON-STRICT over OK)."""
    order = ["OK", "INFORMATIONAL", "NON-STRICT", "WRONG CODE", "UNCLEAN", "FAILED BY CLIENT"]
    order += ["UNIMPLEMENTED", "FAILED", "ERROR"]
    both = [result.behavior.value, result.behavior_close.value]
    worst = max(both, key=lambda v: order.index(v) if v in order else len(order))
    return "FAILED" if worst in ("WRONG CODE", "UNCLEAN", "FAILED BY CLIENT", "ERROR") else worst


def tally(results: Sequence[Any]) -> dict[str, dict[str, int]]:
    """Per group ("1", "12", ...): how many cases got each verdict."""
    groups: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    for result in results:
        groups[result.case_id.split(".")[0]][verdict(result)] += 1
    return {
        group: dict(counts) for group, counts in sorted(groups.items(), key=lambda g: int(g[0]))
    }


@contextmanager
def echo_server(compress: bool, ws: str = "auto") -> Iterator[int]:
    """Run bench/_ws_echo.py (the echo example, `ws` backend) on a free port;
    yield the port."""
    argv = [sys.executable, "-u", "-m", "bench._ws_echo", "--port", "0", "--ws", ws]
    process = subprocess.Popen(
        [*argv, *(["--compress"] if compress else [])], stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if "listening on" not in line:
            raise RuntimeError(f"the echo server did not start: {line!r}")
        yield int(line.rstrip().rstrip("/").rsplit(":", 1)[1])
    finally:
        process.terminate()
        process.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", help="comma-separated case ids or globs (default: all)")
    parser.add_argument("--compress", choices=["on", "off", "both"], default="both")
    parser.add_argument("--ws", choices=["wsproto", "websockets", "both"], default="both")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    report: dict[str, Any] = {}
    bad = 0
    protocols = ["wsproto", "websockets"] if args.ws == "both" else [args.ws]
    if args.ws == "both" and not websockets_available():
        protocols = ["wsproto"]
    compressions = {"on": [True], "off": [False], "both": [False, True]}[args.compress]
    for ws, compress in itertools.product(protocols, compressions):
        cases = (
            args.cases.split(",") if args.cases else (DEFLATE_CASES if compress else PLAIN_CASES)
        )
        name = f"{ws} {'permessage-deflate' if compress else 'plain'}"
        with echo_server(compress, ws) as port:
            started = time.monotonic()
            results = run_cases(f"ws://127.0.0.1:{port}", cases, args.concurrency)
            seconds = time.monotonic() - started
        counts = tally(results)
        bad += sum(n for group in counts.values() for v, n in group.items() if v in BAD)
        report[name] = {"cases": len(results), "seconds": round(seconds, 1), "groups": counts}
        if not args.json:
            print(f"{name}: {len(results)} cases in {seconds:.0f} s")
            for group, group_counts in counts.items():
                print(
                    f"  {group:>3}: "
                    + ", ".join(f"{v} {n}" for v, n in sorted(group_counts.items()))
                )
    if args.json:
        print(json.dumps(report))
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
