"""Benchmark of the HTTP server: hello world under wrk, beside its peers in the same run.

    python -m bench.http_bench [--json] [--duration S] [--rounds N] [--servers a,b,...]

What is measured: requests/s and the 99th percentile latency of a GET /
answered "Hello World.", over keep-alive connections, with one connection
(`wrk -t1 -c1`) and with fifty (`wrk -t1 -c50`), `--duration` seconds each;
and the server's CPU time per request at fifty connections (user + system,
summed over the server's process group), which holds its meaning when the
machine is shared and the server's CPU is not all its own.

The servers, each in its own subprocess on 127.0.0.1 and a free port:
  ours       httpserver (`python -m bench.http_bench --serve ours --port N`)
             with every option it has for plain HTTP switched on: static,
             compress, max_connections, recv_timeout, post_max_size,
             get_url_max_size, sessions_expire, auto_recv_body and an
             access_log. The benchmark's requests use none of them: the
             figure is what having them configured costs a plain request.
             http="httptools" (llhttp).
  ours-h11   the same with http="h11".
  ours-asgi  httpserver serving the ASGI app of bench/baselines/asgi_hello.py
             (`asgi=app`, http="httptools", lifespan="auto"): the same app
             uvicorn and hypercorn serve, measured in the same run.
  bare       bench/baselines/h11_hello.py, a bare trio + h11 loop.
  bare-llhttp  bench/baselines/httptools_hello.py, a bare trio + httptools
             loop: about the most a trio server can do.
  hypercorn  hypercorn with its trio worker serving the bare ASGI app of
             bench/baselines/asgi_hello.py.
  aiohttp    bench/baselines/aiohttp_hello.py: aiohttp.web, one route, no
             access log, asyncio's default loop.
  uvicorn    uvicorn --http httptools --loop uvloop --workers 1
             --no-access-log, serving bench/baselines/asgi_hello.py.

How: each server is pinned to one CPU and wrk to another (`taskset -c`), so
the two do not compete; on a one-CPU machine everything runs unpinned and
the output says so. The machine is shared and noisy, so each figure is ours
beside an anchor measured in the same run: the servers are interleaved
round by round (`--rounds`, the order rotating), each started afresh, waited
for, warmed up for a second, then measured; the figures are medians over
rounds. Requests/s ratios are ours/anchor (higher is better); latency
ratios are ours/anchor (lower is better). wrk is not installed by this
script: without it, it says how to install it and exits with status 2.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Literal

import actors
import httpserver
from bench._harness import (
    HOST,
    Placement,
    PlacementNotes,
    Server,
    figure,
    note,
    placement,
    print_figures,
    serving,
)

BODY = b"Hello World."
SERVERS = (
    "ours",
    "ours-h11",
    "ours-asgi",
    "bare",
    "bare-llhttp",
    "hypercorn",
    "aiohttp",
    "uvicorn",
)
# (figure name, ours, anchor, connections, the target ratio or None)
TARGETS = [
    ("c50_vs_aiohttp", "ours", "aiohttp", 50, 1.3),
    ("c50_vs_uvicorn", "ours", "uvicorn", 50, 0.9),
    ("c1_vs_uvicorn", "ours", "uvicorn", 1, 1.0),
    ("h11_c50_vs_bare", "ours-h11", "bare", 50, 1.5),
    ("h11_c1_vs_bare", "ours-h11", "bare", 1, 1.5),
    ("c50_vs_bare_llhttp", "ours", "bare-llhttp", 50, 0.95),
    ("c1_vs_bare_llhttp", "ours", "bare-llhttp", 1, None),
    ("c50_vs_hypercorn", "ours", "hypercorn", 50, None),
    # The same ASGI app on each ASGI server.
    ("asgi_c50_vs_uvicorn", "ours-asgi", "uvicorn", 50, 0.9),
    ("asgi_c1_vs_uvicorn", "ours-asgi", "uvicorn", 1, None),
    ("asgi_c50_vs_hypercorn", "ours-asgi", "hypercorn", 50, 2.0),
]
# (ours, anchor, the target ratio or None): server CPU per request at
# c50, and the p99 latency at c50 (lower is better for both).
CPU_TARGETS = [
    ("ours", "aiohttp", None),
    ("ours", "uvicorn", None),
    ("ours-asgi", "uvicorn", None),
    ("ours-asgi", "hypercorn", None),
    ("ours", "bare-llhttp", 1.05),
    ("ours-h11", "bare", None),
]
P99_TARGETS = [("uvicorn", 1.2), ("aiohttp", None)]
CONNECTIONS = (1, 50)
WARMUP_SECONDS = 1
PLACEMENT_NOTES = PlacementNotes(
    one_cpu="only one CPU ({cpus}): servers and wrk run unpinned, sharing it",
    no_taskset="taskset is missing: servers and wrk run unpinned",
    pinned="each server pinned to CPU {server}, wrk to CPU {client}",
)
FEATURES = (
    "static, compress, max_connections, recv_timeout, post_max_size, "
    "get_url_max_size, sessions_expire, auto_recv_body, access_log"
)

# -- our server (run in its own interpreter with --serve ours) ------------------


async def hello(req: httpserver.Req) -> None:
    await req.ok(BODY)


async def serve_ours_async(
    port: int,
    static: str,
    access_log: Callable[[httpserver.AccessLog], None],
    http: Literal["auto", "h11", "httptools"],
) -> None:
    # Every plain-HTTP feature is configured here, while the benchmark's
    # requests use none of them (no /static path, no Accept-Encoding, no
    # body, no session cookie): what is measured is their cost when present.
    httpserver.start_link(
        ip=HOST,
        port=port,
        loop=hello,
        static=static,
        compress=True,
        max_connections=10_000,
        recv_timeout=30.0,
        post_max_size=1024 * 1024,
        get_url_max_size=2000,
        sessions_expire=600.0,
        auto_recv_body=True,
        access_log=access_log,
        http=http,
    )
    await actors.receive()  # until interrupted


async def serve_asgi_async(port: int) -> None:
    from bench.baselines.asgi_hello import app

    httpserver.start_link(ip=HOST, port=port, asgi=app, http="httptools")
    await actors.receive()  # until interrupted


def serve_ours(port: int, http: str) -> None:
    """Run our server until SIGINT; the access log is a bounded deque, the
    cheapest log that still does something with each entry."""
    log: deque[httpserver.AccessLog] = deque(maxlen=1024)
    # Started from a shell's background job, SIGINT may be inherited as
    # ignored; make it KeyboardInterrupt again so trio handles it.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    if http == "asgi":
        with contextlib.suppress(KeyboardInterrupt):
            actors.run(serve_asgi_async, port)
        return
    with (
        tempfile.TemporaryDirectory(prefix="http_bench_static_") as static,
        contextlib.suppress(KeyboardInterrupt),  # the stop signal
    ):
        actors.run(serve_ours_async, port, static, log.append, http)


# -- starting and stopping servers ----------------------------------------------


def server_command(kind: str, port: int) -> list[str]:
    python = sys.executable
    if kind in ("ours", "ours-h11", "ours-asgi"):
        http = {"ours": "httptools", "ours-h11": "h11", "ours-asgi": "asgi"}[kind]
        return [python, "-m", "bench.http_bench", "--serve", http, "--port", str(port)]
    if kind == "bare":
        return [python, "-m", "bench.baselines.h11_hello", "--port", str(port)]
    if kind == "bare-llhttp":
        return [python, "-m", "bench.baselines.httptools_hello", "--port", str(port)]
    if kind == "aiohttp":
        return [python, "-m", "bench.baselines.aiohttp_hello", "--port", str(port)]
    if kind == "hypercorn":
        return [
            *(python, "-m", "hypercorn", "--worker-class", "trio", "--workers", "1"),
            *("--bind", f"{HOST}:{port}", "bench.baselines.asgi_hello:app"),
        ]
    if kind == "uvicorn":
        return [
            *(python, "-m", "uvicorn", "--http", "httptools", "--loop", "uvloop"),
            *("--workers", "1", "--no-access-log", "--log-level", "warning"),
            *("--host", HOST, "--port", str(port), "bench.baselines.asgi_hello:app"),
        ]
    raise ValueError(f"unknown server {kind!r}")


# SIGINT for ours: trio turns it into KeyboardInterrupt and the node shuts
# down cleanly (removing the static temp dir). hypercorn shuts its worker
# down on SIGTERM; the bare loop has nothing to clean up.
STOP_SIGNAL = dict.fromkeys(SERVERS, signal.SIGTERM) | {
    "ours": signal.SIGINT,
    "ours-h11": signal.SIGINT,
    "ours-asgi": signal.SIGINT,
}


def check_answer(server: Server) -> None:
    """One request by hand: the workload must be what we think it is."""
    conn = http.client.HTTPConnection(HOST, server.port, timeout=5)
    try:
        conn.request("GET", "/")
        response = conn.getresponse()
        body = response.read()
    except (OSError, http.client.HTTPException) as exc:
        raise RuntimeError(
            f"server {server.kind} failed a first GET /: {exc!r}; its stderr begins:\n"
            f"{server.stderr_head()}"
        ) from exc
    finally:
        conn.close()
    if response.status != 200 or body != BODY:
        raise RuntimeError(f"server {server.kind} answered {response.status} {body[:80]!r}")


@contextlib.contextmanager
def running(kind: str, where: Placement, workdir: Path) -> Iterator[Server]:
    command = partial(server_command, kind)
    with serving(where, kind, command, workdir, STOP_SIGNAL[kind]) as server:
        check_answer(server)
        yield server


# -- wrk ----------------------------------------------------------------------------


@dataclass
class WrkResult:
    requests_per_s: float
    p99_ms: float
    errors: str  # wrk's socket-error and non-2xx lines, "" when there were none
    requests: int = 0  # answered in the run


_UNIT_MS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}


def parse_wrk(output: str) -> WrkResult:
    rps = re.search(r"^Requests/sec:\s+([\d.]+)", output, re.MULTILINE)
    total = re.search(r"^\s*(\d+) requests in", output, re.MULTILINE)
    p99 = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s|m|h)\s*$", output, re.MULTILINE)
    if rps is None or p99 is None:
        raise RuntimeError(f"could not read wrk's output:\n{output}")
    errors = [
        line.strip()
        for line in output.splitlines()
        if line.strip().startswith(("Socket errors:", "Non-2xx or 3xx responses:"))
    ]
    return WrkResult(
        float(rps.group(1)),
        float(p99.group(1)) * _UNIT_MS[p99.group(2)],
        "; ".join(errors),
        int(total.group(1)) if total else 0,
    )


def group_cpu_seconds(pgid: int) -> float:
    """User + system CPU seconds of every live process in group `pgid` (a
    server and its workers: each server starts in a session of its own)."""
    ticks = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[2]) == pgid:  # field 5 of stat, the process group
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def run_wrk(where: Placement, port: int, connections: int, duration: int) -> WrkResult:
    command = [
        *where.client,
        *("wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--latency"),
        f"http://{HOST}:{port}/",
    ]
    out = subprocess.run(command, capture_output=True, text=True, check=True, timeout=duration + 30)
    return parse_wrk(out.stdout)


# -- measuring -----------------------------------------------------------------------


Samples = dict[str, dict[str, list[float]]]


def measure_all(
    rounds: int,
    duration: int,
    where: Placement,
    note: Callable[[str], None],
    servers: tuple[str, ...] = SERVERS,
) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, float]]]:
    samples: Samples = {kind: {} for kind in servers}
    with tempfile.TemporaryDirectory(prefix="http_bench_") as tmp:
        workdir = Path(tmp)
        for index in range(rounds):
            shift = index % len(servers)
            for kind in servers[shift:] + servers[:shift]:
                with running(kind, where, workdir) as server:
                    run_wrk(where, server.port, max(CONNECTIONS), WARMUP_SECONDS)
                    for connections in CONNECTIONS:
                        cpu = group_cpu_seconds(server.proc.pid)
                        result = run_wrk(where, server.port, connections, duration)
                        cpu = group_cpu_seconds(server.proc.pid) - cpu
                        server.check_alive()
                        if result.errors:
                            note(f"round {index + 1}, {kind}, -c{connections}: {result.errors}")
                        got = samples[kind]
                        got.setdefault(f"rps_c{connections}", []).append(result.requests_per_s)
                        got.setdefault(f"p99_c{connections}", []).append(result.p99_ms)
                        per_request = cpu / max(result.requests, 1) * 1e6
                        got.setdefault(f"cpu_us_c{connections}", []).append(per_request)
                if kind.startswith("ours") and (head := server.stderr_head()):
                    note(f"round {index + 1}: our server wrote to stderr; it begins:\n{head}")
    med = {
        kind: {key: statistics.median(values) for key, values in got.items()}
        for kind, got in samples.items()
    }
    figures: dict[str, dict[str, Any]] = {}
    for name, ours, anchor, connections, target in TARGETS:
        if ours in med and anchor in med:
            key = f"rps_c{connections}"
            fig = figure(med[ours][key], med[anchor][key], "requests/s", True)
            fig["target"] = target
            figures[f"hello_{name}"] = fig
    for ours, anchor, target in CPU_TARGETS:
        if ours in med and anchor in med:
            name = f"cpu_per_req_c50_{ours}_vs_{anchor}".replace("-", "_")
            fig = figure(
                med[ours]["cpu_us_c50"], med[anchor]["cpu_us_c50"], "CPU us/request", False
            )
            fig["target"] = target
            figures[name] = fig
    for anchor, target in P99_TARGETS:
        if "ours" in med and anchor in med:
            fig = figure(med["ours"]["p99_c50"], med[anchor]["p99_c50"], "milliseconds", False)
            fig["target"] = target
            figures[f"p99_c50_vs_{anchor}"] = fig
    return figures, med


def _flag(figures: dict[str, dict[str, Any]]) -> Callable[[str], str]:
    def flag(name: str) -> str:
        fig = figures[name]
        target = fig.get("target")
        if target is None:
            return ""
        if fig["better"] == "higher":
            met = "met" if fig["ratio"] >= target else "NOT MET"
            return f"  target >= {target}x: {met}"
        met = "met" if fig["ratio"] <= target else "NOT MET"
        return f"  target <= {target}x: {met}"

    return flag


def print_table(
    figures: dict[str, dict[str, Any]],
    med: dict[str, dict[str, float]],
    rounds: int,
    duration: int,
    where: Placement,
) -> None:
    print(f"HTTP hello world under wrk -t1, median of {rounds} round(s) of {duration} s per run")
    print(f"{where.note}; keep-alive connections; GET / answered 'Hello World.'")
    print(f"ours: httpserver with {FEATURES} switched on;")
    print("      the benchmark's requests use none of them; http='httptools' (ours-h11: 'h11')")
    print("ours-asgi: asgi=bench/baselines/asgi_hello.py's app, http='httptools'")
    print("bare: bench/baselines/h11_hello.py (trio + h11)")
    print("bare-llhttp: bench/baselines/httptools_hello.py (trio + httptools)")
    print("hypercorn: --worker-class trio --workers 1, bench/baselines/asgi_hello.py")
    print("aiohttp: bench/baselines/aiohttp_hello.py (aiohttp.web, asyncio loop, no access log)")
    print("uvicorn: --http httptools --loop uvloop --workers 1 --no-access-log, asgi_hello.py")
    print()
    print(
        f"{'server':11} {'req/s c1':>10} {'req/s c50':>10} {'p99 c1 ms':>10} {'p99 c50 ms':>11}"
        f" {'CPU us/req c50':>15}"
    )
    for kind, got in med.items():
        print(
            f"{kind:11} {got['rps_c1']:>10,.0f} {got['rps_c50']:>10,.0f} "
            f"{got['p99_c1']:>10.2f} {got['p99_c50']:>11.2f} {got['cpu_us_c50']:>15.1f}"
        )
    print()
    print_figures(figures, 26, flag=_flag(figures))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--duration", type=int, default=5, help="seconds per wrk run (default 5)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per figure (median)")
    parser.add_argument(
        "--serve",
        choices=["httptools", "h11", "asgi"],
        help="run our server alone with this parser (used by the bench)",
    )
    parser.add_argument(
        "--servers",
        default=",".join(SERVERS),
        help=f"comma-separated servers to run (default all: {','.join(SERVERS)})",
    )
    parser.add_argument("--port", type=int, default=8080, help="port for --serve")
    args = parser.parse_args()
    if args.serve is not None:
        serve_ours(args.port, args.serve)
        return
    servers = tuple(kind for kind in args.servers.split(",") if kind)
    unknown = set(servers) - set(SERVERS)
    if unknown or not servers:
        parser.error(f"--servers takes some of {','.join(SERVERS)}")
    if args.duration < 1 or args.rounds < 1:
        parser.error("--duration and --rounds must be at least 1")
    if shutil.which("wrk") is None:
        print("wrk is missing: apt-get install wrk", file=sys.stderr)
        sys.exit(2)
    where = placement(PLACEMENT_NOTES)
    figures, med = measure_all(args.rounds, args.duration, where, note, servers)
    if args.json:
        print(json.dumps(figures))
    else:
        print_table(figures, med, args.rounds, args.duration, where)


if __name__ == "__main__":
    main()
