"""Benchmark of the WebSocket server: echo, idle sockets and broadcast, beside four anchors.

    python -m bench.ws_bench [--json] [--duration S] [--rounds N] [--servers a,b,...]

What is measured, each for our server and for every anchor in the same run:
  echo       messages/s and the 99th percentile latency (ms) with 1 socket
             and with 50: each socket sends a short text message and waits
             for its echo before sending the next (a closed loop), for
             `--duration` seconds after a one-second warm-up; and the
             server's CPU microseconds per message over that window alone
             (/proc/<pid>/stat), the figure to trust on a shared machine.
  idle       5,000 sockets opened (at most 50 handshakes in flight): the
             handshakes/s until the last 101, and the server's memory per
             socket: its VmRSS (/proc/<pid>/status) once every socket is open
             and its handler has said "ready", minus before, over 5,000; and
             the server's CPU microseconds per handshake (its CPU time over
             the client's run, the "ready" messages included, over 5,000).
  broadcast  1,000 sockets open; one of them sends "go" and the server sends
             100 messages to all of them: deliveries/s is 100,000 over the
             time until the client has received them all (one warm-up burst,
             then three counted). The client can be the limit here, so the
             figure compared is the server's CPU seconds per million
             deliveries (lower is better), read from /proc around the four
             bursts alone (the client waits between opening and the bursts).

The servers, each in its own subprocess on 127.0.0.1 and a free port:
  ours-websockets, ours-wsproto
                  ours, with each protocol backend (the `ws` option). echo:
                  bench/_ws_echo.py (examples.websocket_echo's handler, --ws).
                  idle and broadcast: `python -m bench._ws_servers
                  ours-websockets-broadcast --port N`, whose handlers join a
                  process group and answer "go" with 100 calls of
                  websocket.broadcast(group, message), with max_connections
                  set for 10,000 sockets (the example keeps the default
                  4,096, too few for 5,000 sockets). Every figure compares
                  each of the two with every anchor.
  bare            echo: bench/baselines/wsproto_echo.py, a bare trio + wsproto
                  loop. idle and broadcast: `bench._ws_servers bare-broadcast`,
                  the same loop keeping a set of sockets and sending to each
                  in turn.
  trio_websocket  trio_websocket.serve_websocket (`trio_websocket-echo` and
                  `trio_websocket-broadcast`: send_message to each socket of
                  a set in turn).
  websockets      the websockets library's asyncio server,
                  websockets.asyncio.server.serve (`websockets-echo` and
                  `websockets-broadcast`, with websockets.broadcast).
  aiohttp         aiohttp.web's WebSocketResponse (`aiohttp-echo` and
                  `aiohttp-broadcast`: send_str to each socket of a set in
                  turn), compression off.
bench/_ws_servers.py runs each; every server runs with its library's
defaults otherwise; no compression (the client does not offer
permessage-deflate). `--servers` runs a subset (one of ours among them).

How: the load client is bench/ws_client/client.js, on Node.js alone: plain
TCP sockets, the handshake and every frame it sends built once, so that it
costs the least it can (a Python client, or one on a WebSocket library,
would be a limit sooner); without node this script says so and exits with
status 2 (`apt-get install nodejs`). The server under test is pinned to one CPU and the
client to another (`taskset -c`); the client reports its CPU share (its
user+system CPU seconds over the wall seconds of the measured window, from
process.cpuUsage), and near 1.0 it, not the server, was the limit; beside
it, the server's share (/proc/<pid>/stat) over the client's whole run. Runs
where the client's share reached 0.9 are flagged client-bound: there the
figure is a lower bound for that server (our broadcast reaches that). The
servers are interleaved round by round (`--rounds`, the order rotating),
each started afresh and checked by hand first; figures are medians over
rounds. Throughput ratios are ours/anchor (higher is better); latency and
memory ratios are ours/anchor (lower is better). Loopback only; with the
defaults a run takes about two minutes.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import select
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from websockets.exceptions import WebSocketException
from websockets.sync.client import connect as sync_connect

from bench._harness import (
    HOST,
    STOP_TIMEOUT,
    Placement,
    PlacementNotes,
    Server,
    figure,
    note,
    placement,
    print_figures,
    serving,
)
from bench._ws_servers import BROADCAST_MESSAGE, GO, READY

REPO = Path(__file__).resolve().parent.parent
CLIENT_DIR = REPO / "bench" / "ws_client"
CLIENT_JS = CLIENT_DIR / "client.js"
OURS = ("ours-websockets", "ours-wsproto")
SERVERS = (*OURS, "bare", "trio_websocket", "websockets", "aiohttp")
ANCHORS = SERVERS[2:]
ECHO_SOCKETS = (1, 50)
IDLE_SOCKETS = 5_000
BROADCAST_SOCKETS = 1_000
BROADCAST_MESSAGES = 100
BROADCAST_BURSTS = 3  # counted, after one warm-up burst
OPEN_CONCURRENCY = 50  # handshakes in flight; under every server's listen backlog
WARMUP_SECONDS = 1
SOCKETS = IDLE_SOCKETS + 1_000  # what each broadcast server is made to hold (fds, max_connections)
PLACEMENT_NOTES = PlacementNotes(
    one_cpu="only one CPU ({cpus}): servers and client run unpinned",
    no_taskset="taskset is missing: servers and client run unpinned",
    pinned="each server pinned to CPU {server}, the client to CPU {client}",
)
CLIENT_TIMEOUT = 90.0  # seconds any one client run may take, beyond its duration

# -- starting and stopping servers ----------------------------------------------------


def server_command(kind: str, workload: str, port: int) -> list[str]:
    python = sys.executable
    if kind in OURS and workload == "echo":
        ws = kind.removeprefix("ours-")
        return [python, "-m", "bench._ws_echo", "--port", str(port), "--ws", ws]
    if kind == "bare" and workload == "echo":
        return [python, "-m", "bench.baselines.wsproto_echo", "--port", str(port)]
    mode = f"{kind}-{workload}"
    return [python, "-m", "bench._ws_servers", mode, "--port", str(port), "--sockets", str(SOCKETS)]


def check_answer(server: Server) -> None:
    """One socket by hand: the workload must be what we think it is. An echo
    server echoes; a broadcast server says "ready", then answers "go" with
    BROADCAST_MESSAGES messages (to its only socket)."""
    url = f"ws://{HOST}:{server.port}/"
    try:
        with sync_connect(url, open_timeout=5, close_timeout=5, compression=None) as ws:
            if server.workload == "echo":
                ws.send("check")
                answers = [ws.recv(timeout=5)]
                expected = ["check"]
            else:
                answers = [ws.recv(timeout=5)]
                ws.send(GO)
                answers += [ws.recv(timeout=5) for _ in range(BROADCAST_MESSAGES)]
                expected = [READY] + [BROADCAST_MESSAGE] * BROADCAST_MESSAGES
    except (OSError, TimeoutError, WebSocketException) as exc:
        raise RuntimeError(
            f"server {server.name} failed a first socket: {exc!r}; "
            f"its stderr begins:\n{server.stderr_head()}"
        ) from exc
    if answers != expected:
        raise RuntimeError(f"server {server.name} answered {answers[:3]!r}")


@contextlib.contextmanager
def running(kind: str, workload: str, where: Placement, workdir: Path) -> Iterator[Server]:
    command = partial(server_command, kind, workload)
    # SIGINT for ours (trio turns it into KeyboardInterrupt: a clean
    # shutdown), SIGTERM for the anchors. SIGINT is reset to its default in
    # the child: examples.websocket_echo does not do it itself.
    stop_signal = signal.SIGINT if kind in OURS else signal.SIGTERM
    with serving(
        where, kind, command, workdir, stop_signal, workload=workload, cwd=REPO, reset_sigint=True
    ) as server:
        check_answer(server)
        yield server


# -- the client -----------------------------------------------------------------------


def client_missing() -> str | None:
    """The command that installs what the client needs, if anything is missing."""
    if shutil.which("node") is None:
        return "apt-get install nodejs"
    return None


def read_json_line(proc: subprocess.Popen[bytes], timeout: float, what: str) -> dict[str, Any]:
    """The client's next line of output as JSON, within `timeout` seconds."""
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    data = b""
    deadline = time.monotonic() + timeout
    while b"\n" not in data:
        left = deadline - time.monotonic()
        if left <= 0:
            raise RuntimeError(f"the client ({what}) printed nothing within {timeout:.0f} s")
        readable, _, _ = select.select([fd], [], [], left)
        if readable:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            data += chunk
    line = data.split(b"\n", 1)[0]
    if not line:
        raise RuntimeError(f"the client ({what}) exited with status {proc.wait()} saying nothing")
    result: dict[str, Any] = json.loads(line)
    if "error" in result:
        raise RuntimeError(f"the client ({what}) failed: {result['error']}")
    return result


@contextlib.contextmanager
def client(
    where: Placement, workdir: Path, server: Server, mode: str, *options: object
) -> Iterator[subprocess.Popen[bytes]]:
    """The client process, stopped by its handle on the way out."""
    command = [
        *where.client,
        *("node", str(CLIENT_JS), mode, "--url", f"ws://{HOST}:{server.port}/"),
        *(str(option) for option in options),
    ]
    with (workdir / f"client-{server.kind}-{mode}.stderr").open("ab") as stderr:
        proc = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr, bufsize=0
        )
    try:
        yield proc
    finally:
        if proc.stdin is not None:
            with contextlib.suppress(OSError):
                proc.stdin.close()
        if proc.poll() is None:
            try:
                proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


def read_result(
    proc: subprocess.Popen[bytes], server: Server, timeout: float, what: str
) -> dict[str, Any]:
    """The client's result line, with the server's CPU share from now until
    it came (the client's whole run so far: start, connect, warm-up, work)."""
    start, cpu = time.monotonic(), server.cpu_seconds()
    result = read_json_line(proc, timeout, what)
    server.check_alive()
    result["server_cpu_share"] = (server.cpu_seconds() - cpu) / (time.monotonic() - start)
    return result


def run_echo(
    where: Placement, workdir: Path, server: Server, sockets: int, duration: float
) -> dict[str, Any]:
    """A closed loop of echoes, and the server's CPU microseconds per message
    over the counted window alone (the client says when it starts)."""
    options = (
        *("--sockets", sockets, "--duration", duration, "--warmup", WARMUP_SECONDS),
        *("--concurrency", OPEN_CONCURRENCY, "--sync", 1),
    )
    what = f"echo c{sockets} on {server.kind}"
    with client(where, workdir, server, "echo", *options) as proc:
        start, cpu_start = time.monotonic(), server.cpu_seconds()
        read_json_line(proc, CLIENT_TIMEOUT, what)  # {"phase": "window"}
        cpu = server.cpu_seconds()
        result = read_json_line(proc, duration + CLIENT_TIMEOUT, what)
        server.check_alive()
        now = server.cpu_seconds()
        result["server_cpu_share"] = (now - cpu_start) / (time.monotonic() - start)
        result["cpu_us_per_message"] = (now - cpu) / max(result["messages"], 1) * 1e6
        return result


def run_idle(where: Placement, workdir: Path, server: Server) -> dict[str, Any]:
    """Open IDLE_SOCKETS and read the server's memory while they are all open."""
    time.sleep(0.2)  # let the server settle after the check
    before = server.vm_rss()
    options = ("--sockets", IDLE_SOCKETS, "--concurrency", OPEN_CONCURRENCY)
    with client(where, workdir, server, "idle", *options, "--timeout", CLIENT_TIMEOUT) as proc:
        cpu = server.cpu_seconds()
        result = read_result(proc, server, CLIENT_TIMEOUT, f"idle on {server.kind}")
        result["cpu_us_per_handshake"] = (server.cpu_seconds() - cpu) / IDLE_SOCKETS * 1e6
        result["bytes_per_socket"] = (server.vm_rss() - before) / IDLE_SOCKETS
    return result  # the client closes its sockets once its stdin is closed


def run_broadcast(where: Placement, workdir: Path, server: Server) -> dict[str, Any]:
    """The bursts, and the server's CPU seconds per million deliveries over
    them alone: the client says when every socket is open and waits."""
    options = (
        *("--sockets", BROADCAST_SOCKETS, "--messages", BROADCAST_MESSAGES),
        *("--bursts", BROADCAST_BURSTS, "--warmup-bursts", 1),
        *("--concurrency", OPEN_CONCURRENCY, "--sync", 1),
    )
    what = f"broadcast on {server.kind}"
    with client(where, workdir, server, "broadcast", *options) as proc:
        read_json_line(proc, CLIENT_TIMEOUT, what)  # {"phase": "open"}
        cpu = server.cpu_seconds()
        assert proc.stdin is not None
        proc.stdin.write(b"go\n")
        result = read_result(proc, server, CLIENT_TIMEOUT, what)
        deliveries = (BROADCAST_BURSTS + 1) * BROADCAST_SOCKETS * BROADCAST_MESSAGES
        result["cpu_per_million"] = (server.cpu_seconds() - cpu) / deliveries * 1e6
        return result


# -- measuring --------------------------------------------------------------------------


@dataclass
class Samples:
    """Per server, each measured quantity's samples over rounds."""

    servers: tuple[str, ...] = SERVERS
    values: dict[str, dict[str, list[float]]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.values = {kind: {} for kind in self.servers}

    def add(self, kind: str, key: str, *values: float) -> None:
        self.values[kind].setdefault(key, []).extend(values)

    def medians(self) -> dict[str, dict[str, float]]:
        return {
            kind: {key: statistics.median(got) for key, got in by_key.items()}
            for kind, by_key in self.values.items()
        }


def measure_server(
    kind: str, where: Placement, workdir: Path, duration: float, samples: Samples
) -> None:
    with running(kind, "echo", where, workdir) as server:
        for sockets in ECHO_SOCKETS:
            result = run_echo(where, workdir, server, sockets, duration)
            server.check_alive()
            samples.add(kind, f"echo_c{sockets}", result["messages_per_s"])
            samples.add(kind, f"p99_c{sockets}", result["p99_ms"])
            samples.add(kind, f"cpu_us_c{sockets}", result["cpu_us_per_message"])
            samples.add(kind, f"cpu_echo_c{sockets}", result["cpu_share"])
            samples.add(kind, f"server_cpu_echo_c{sockets}", result["server_cpu_share"])
    with running(kind, "broadcast", where, workdir) as server:
        idle = run_idle(where, workdir, server)
        samples.add(kind, "handshakes", idle["handshakes_per_s"])
        samples.add(kind, "cpu_us_handshake", idle["cpu_us_per_handshake"])
        samples.add(kind, "memory", idle["bytes_per_socket"])
        samples.add(kind, "cpu_idle", idle["cpu_share"])
        samples.add(kind, "server_cpu_idle", idle["server_cpu_share"])
        result = run_broadcast(where, workdir, server)
        server.check_alive()
        samples.add(kind, "broadcast", *result["deliveries_per_s"])
        samples.add(kind, "broadcast_cpu", result["cpu_per_million"])
        samples.add(kind, "cpu_broadcast", result["cpu_share"])
        samples.add(kind, "server_cpu_broadcast", result["server_cpu_share"])


# name, unit, higher is better
QUANTITIES = (
    ("echo_c1", "messages/s", True),
    ("echo_c50", "messages/s", True),
    ("p99_c1", "milliseconds", False),
    ("p99_c50", "milliseconds", False),
    ("cpu_us_c1", "server CPU us per message", False),
    ("cpu_us_c50", "server CPU us per message", False),
    ("idle_handshakes", "handshakes/s", True),
    ("cpu_us_handshake", "server CPU us per handshake", False),
    ("idle_memory_per_socket", "bytes", False),
    ("broadcast", "deliveries/s", True),
    ("broadcast_cpu", "server CPU s per million deliveries", False),
)
SAMPLE_KEY = {"idle_handshakes": "handshakes", "idle_memory_per_socket": "memory"}
# The client run each quantity comes from (memory is read from the server).
WORKLOAD_OF = {
    "echo_c1": "echo_c1",
    "echo_c50": "echo_c50",
    "p99_c1": "echo_c1",
    "p99_c50": "echo_c50",
    "idle_handshakes": "idle",
    "broadcast": "broadcast",
}
# the server's own CPU time, whoever was the limit
NOT_CLIENT_BOUND = {"broadcast_cpu", "cpu_us_c1", "cpu_us_c50", "cpu_us_handshake"}
WORKLOADS = ("echo_c1", "echo_c50", "idle", "broadcast")
CLIENT_BOUND = 0.9  # a client CPU share from which the client may have been the limit


def client_bound(med: dict[str, dict[str, float]]) -> list[str]:
    """The runs in which the client's CPU share reached CLIENT_BOUND."""
    return [
        f"{kind} {workload} ({got['cpu_' + workload]:.2f})"
        for kind, got in med.items()
        for workload in WORKLOADS
        if got["cpu_" + workload] >= CLIENT_BOUND
    ]


def is_client_bound(med: dict[str, dict[str, float]], name: str, ours: str, anchor: str) -> bool:
    workload = WORKLOAD_OF.get(name)
    if workload is None:
        return False
    return max(med[ours]["cpu_" + workload], med[anchor]["cpu_" + workload]) >= CLIENT_BOUND


def measure_all(
    rounds: int,
    duration: float,
    where: Placement,
    note: Callable[[str], None],
    servers: tuple[str, ...] = SERVERS,
) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, float]]]:
    samples = Samples(servers)
    with tempfile.TemporaryDirectory(prefix="ws_bench_") as tmp:
        workdir = Path(tmp)
        for index in range(rounds):
            shift = index % len(servers)
            for kind in servers[shift:] + servers[:shift]:
                measure_server(kind, where, workdir, duration, samples)
            for path in sorted(workdir.glob("ours-*-*.stderr")):
                if head := path.read_text(errors="replace").strip():
                    head = "\n".join(head.splitlines()[:15])
                    note(f"round {index + 1}: our server wrote to stderr ({path.name}):\n{head}")
                path.unlink()
    med = samples.medians()
    figures: dict[str, dict[str, Any]] = {}
    for name, unit, higher in QUANTITIES:
        key = SAMPLE_KEY.get(name, name)
        for ours in (kind for kind in OURS if kind in servers):
            for anchor in (kind for kind in ANCHORS if kind in servers):
                figures[f"{name}_{ours}_vs_{anchor}"] = figure(
                    med[ours][key], med[anchor][key], unit, higher
                )
    return figures, med


def print_table(
    figures: dict[str, dict[str, Any]],
    med: dict[str, dict[str, float]],
    rounds: int,
    duration: float,
    where: Placement,
) -> None:
    print(f"WebSocket bench, median of {rounds} round(s); echo runs of {duration:g} s")
    print(f"{where.note}; client: node, plain sockets (bench/ws_client/client.js)")
    print("ours-*: bench/_ws_echo.py --ws *; bench._ws_servers ours-*-broadcast for the rest")
    print(
        "bare: bench/baselines/wsproto_echo.py (trio + wsproto); trio_websocket: serve_websocket;"
    )
    print("websockets: websockets.asyncio.server.serve (asyncio); aiohttp: web.WebSocketResponse")
    print(
        f"idle: {IDLE_SOCKETS:,} sockets; broadcast: {BROADCAST_MESSAGES} messages "
        f"to {BROADCAST_SOCKETS:,} sockets"
    )
    print()
    print(
        f"{'server':15} {'echo c1/s':>10} {'echo c50/s':>11} {'p99 c1 ms':>10} "
        f"{'p99 c50 ms':>11} {'handshk/s':>10} {'B/socket':>9} {'deliver/s':>10} "
        f"{'CPU s/M':>8}"
    )
    for kind, got in med.items():
        print(
            f"{kind:15} {got['echo_c1']:>10,.0f} {got['echo_c50']:>11,.0f} "
            f"{got['p99_c1']:>10.2f} {got['p99_c50']:>11.2f} {got['handshakes']:>10,.0f} "
            f"{got['memory']:>9,.0f} {got['broadcast']:>10,.0f} {got['broadcast_cpu']:>8.2f}"
        )
    print("CPU s/M: the server's CPU seconds per million broadcast deliveries")
    print()
    print("server CPU microseconds per operation (the figures to trust on a shared machine)")
    print(f"{'server':15} {'echo c1':>10} {'echo c50':>11} {'handshake':>10}")
    for kind, got in med.items():
        print(
            f"{kind:15} {got['cpu_us_c1']:>10.1f} {got['cpu_us_c50']:>11.1f} "
            f"{got['cpu_us_handshake']:>10.1f}"
        )
    print()
    print("CPU share, client / server: CPU seconds over wall seconds (1.00 = one CPU")
    print("saturated); the client's over its measured window, the server's over the")
    print("client's whole run (start, connect and warm-up included)")
    print(f"{'server':15} " + " ".join(f"{name:>11}" for name in WORKLOADS))
    for kind, got in med.items():
        shares = [f"{got['cpu_' + w]:.2f} / {got['server_cpu_' + w]:.2f}" for w in WORKLOADS]
        print(f"{kind:15} " + " ".join(f"{share:>11}" for share in shares))
    bound = client_bound(med)
    print(
        f"client-bound (client share >= {CLIENT_BOUND}): "
        + (", ".join(bound) + "; there the server's figure is a lower bound" if bound else "none")
    )

    def flag(name: str) -> str:
        head, _, anchor = name.partition("_vs_")
        for ours in OURS:
            quantity = head.removesuffix("_" + ours)
            if quantity != head:
                bound = quantity not in NOT_CLIENT_BOUND
                bound = bound and is_client_bound(med, quantity, ours, anchor)
                return "  [client-bound]" if bound else ""
        return ""

    print()
    print_figures(figures, 40, flag=flag)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument(
        "--duration", type=float, default=5, help="seconds per echo run (default 5)"
    )
    parser.add_argument("--rounds", type=int, default=1, help="rounds per figure (median)")
    parser.add_argument(
        "--servers",
        default=",".join(SERVERS),
        help=f"comma-separated servers to run (default all: {','.join(SERVERS)})",
    )
    args = parser.parse_args()
    if args.duration <= 0 or args.rounds < 1:
        parser.error("--duration must be positive and --rounds at least 1")
    servers = tuple(kind for kind in args.servers.split(",") if kind)
    if set(servers) - set(SERVERS) or not any(kind in OURS for kind in servers):
        parser.error(f"--servers takes some of {','.join(SERVERS)}, one of ours among them")
    if (command := client_missing()) is not None:
        print(f"the load client is not installed; run:\n    {command}", file=sys.stderr)
        sys.exit(2)
    where = placement(PLACEMENT_NOTES)
    figures, med = measure_all(args.rounds, args.duration, where, note, servers)
    if args.json:
        shares = [v for got in med.values() for k, v in got.items() if k.startswith("cpu_")]
        bound = ", ".join(client_bound(med)) or "none"
        note(
            f"the client's CPU share was at most {max(shares):.2f} of one CPU "
            f"({where.note}); client-bound runs (share >= {CLIENT_BOUND}): {bound}"
        )
        print(json.dumps(figures))
    else:
        print_table(figures, med, args.rounds, args.duration, where)


if __name__ == "__main__":
    main()
