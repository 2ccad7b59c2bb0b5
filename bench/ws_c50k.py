"""50,000 idle WebSockets on one node: memory per socket, and one broadcast to all.

    python -m bench.ws_c50k [--sockets N] [--rounds R] [--servers a,b,...] [--json]

For ours (the default protocol layer) and, in the same run, the websockets
library and aiohttp, each in its own process pinned to one CPU with the
client on another (bench/_harness.py), round by round, the order rotating:

  1. the server starts with RLIMIT_NOFILE raised to hold the sockets (the
     hard limit too, as root may; bench/_ws_servers.py);
  2. the client (bench/ws_client/client.js: plain sockets, a handshake
     built once, at most 100 in flight) opens N sockets, bound in turn to
     several loopback addresses (127.0.0.2, .3, ...: one address has about
     28,000 ports), and waits until each one's handler has said "ready";
  3. memory per socket: the server's VmRSS then, minus before the client
     started, over N; and the handshakes/s of the opening;
  4. one broadcast: the client sends "go" on one socket, and that socket's
     handler sends one message to every socket (ours: websocket.broadcast
     to a process group; websockets: websockets.broadcast; aiohttp, which
     has no broadcast: send_str to each in turn); the time until the client
     has it on every socket, and the server's CPU seconds from the "go"
     until then (/proc/<pid>/stat: user + system);
  5. the client resets its sockets and the server is stopped.

N is --sockets (50,000), or fewer if the machine does not allow it: the
fd limit a process may set (each side needs a descriptor per socket; past
the hard limit only CAP_SYS_RESOURCE may raise it), the memory
available (`MemAvailable`, at 64 KiB per socket for server, client and
kernel); whatever cut it is printed. Ports are not a limit: the client
spreads its sockets over one loopback address per 20,000. The server's CPU
for the broadcast and its memory are the figures that count; the broadcast's
wall time can be the client's (it reads N messages on one CPU): its CPU
share says so. Targets (issue 22): N >= 50,000; ours' memory per socket
<= 1.0x websockets'; the broadcast in under 1 s of server CPU.
Loopback only; each client run is bounded in time (--timeout) and the client
stops by itself.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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
from bench._ws_servers import fd_limit_for, raise_fd_limit
from bench.ws_bench import CLIENT_JS, client_missing, read_json_line

REPO = Path(__file__).resolve().parent.parent
OURS = "ours"
SERVERS = (OURS, "websockets", "aiohttp")
MODES = {OURS: "ours-websockets-broadcast", "websockets": "websockets-broadcast"}
MODES["aiohttp"] = "aiohttp-broadcast"
SOCKETS = 50_000
CONCURRENCY = 100  # handshakes in flight; under every server's listen backlog
PORTS_PER_ADDRESS = 20_000  # of the ~28,000 ephemeral ports of one local address
BYTES_PER_SOCKET = 64 * 1024  # server, client and kernel, to be safe
OPEN_TIMEOUT = 600.0  # seconds the client may take to open and hold every socket
PLACEMENT_NOTES = PlacementNotes(
    one_cpu="only one CPU ({cpus}): servers and client run unpinned",
    no_taskset="taskset is missing: servers and client run unpinned",
    pinned="each server pinned to CPU {server}, the client to CPU {client}",
)
TARGET_SOCKETS = 50_000
TARGET_MEMORY_RATIO = 1.0  # ours / websockets, per socket
TARGET_BROADCAST_CPU = 1.0  # seconds of server CPU for one message to every socket


def sockets_allowed(wanted: int) -> tuple[int, list[str]]:
    """How many sockets this machine allows, at most `wanted`, and why fewer."""
    why = []
    allowed = wanted
    fds = raise_fd_limit(fd_limit_for(wanted))  # this process's: the client inherits it
    if fd_limit_for(allowed) > fds:
        allowed = fds - fd_limit_for(0)
        why.append(f"the fd limit of one process ({fds:,}) holds {allowed:,}")
    available = _mem_available()
    if available is not None and allowed * BYTES_PER_SOCKET > available:
        allowed = available // BYTES_PER_SOCKET
        why.append(f"the memory available ({available >> 20:,} MiB) holds {allowed:,}")
    if allowed < 1:
        raise SystemExit("not one socket fits in this machine's limits: " + "; ".join(why))
    return allowed, why


def _mem_available() -> int | None:
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    return None


def addresses_for(sockets: int) -> int:
    """Local addresses the client spreads its sockets over, for ports."""
    return max(1, math.ceil(sockets / PORTS_PER_ADDRESS))


@contextlib.contextmanager
def running(kind: str, sockets: int, where: Placement, workdir: Path) -> Iterator[Server]:
    mode = MODES[kind]

    def command(port: int) -> list[str]:
        return [
            *(sys.executable, "-m", "bench._ws_servers", mode, "--port", str(port)),
            *("--messages", "1", "--sockets", str(sockets)),
        ]

    # SIGINT for ours (a clean shutdown through trio), SIGTERM for the anchors.
    stop_signal = signal.SIGINT if kind == OURS else signal.SIGTERM
    with serving(where, kind, command, workdir, stop_signal, cwd=REPO, reset_sigint=True) as server:
        yield server


@contextlib.contextmanager
def client(
    where: Placement, workdir: Path, server: Server, sockets: int, first_address: int
) -> Iterator[subprocess.Popen[bytes]]:
    """The client holding `sockets`; stopped by closing its stdin."""
    command = [
        *where.client,
        *("node", str(CLIENT_JS), "broadcast", "--url", f"ws://{HOST}:{server.port}/"),
        *("--sockets", str(sockets), "--messages", "1", "--bursts", "1"),
        *("--warmup-bursts", "0", "--sync", "1", "--concurrency", str(CONCURRENCY)),
        *("--addresses", str(addresses_for(sockets)), "--first-address", str(first_address)),
        *("--timeout", str(int(OPEN_TIMEOUT))),
    ]
    stderr_path = workdir / f"client-{server.kind}.stderr"
    with stderr_path.open("ab") as stderr:
        proc = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr, bufsize=0
        )
    try:
        yield proc
    finally:
        if proc.stdin is not None:
            with contextlib.suppress(OSError):
                proc.stdin.close()
        try:
            proc.wait(timeout=STOP_TIMEOUT + sockets / 10_000)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


def measure(
    kind: str, sockets: int, where: Placement, workdir: Path, first_address: int
) -> dict[str, float]:
    """One server holding `sockets`: memory per socket, the opening, one broadcast."""
    with running(kind, sockets, where, workdir) as server:
        time.sleep(0.5)  # let it settle after its start
        before = server.vm_rss()
        with client(where, workdir, server, sockets, first_address) as proc:
            what = f"{sockets:,} sockets on {kind}"
            opened = read_json_line(proc, OPEN_TIMEOUT, what)  # {"phase": "open", ...}
            server.check_alive()
            memory = (server.vm_rss() - before) / sockets
            cpu = server.cpu_seconds()
            assert proc.stdin is not None
            proc.stdin.write(b"go\n")
            result = read_json_line(proc, OPEN_TIMEOUT, what)
            broadcast_cpu = server.cpu_seconds() - cpu
            server.check_alive()
    return {
        "bytes_per_socket": memory,
        "handshakes_per_s": opened["handshakes_per_s"],
        "broadcast_cpu_s": broadcast_cpu,
        "broadcast_s": result["seconds"][0],
        "client_share": result["cpu_share"],
    }


def measure_all(
    sockets: int, rounds: int, servers: tuple[str, ...], where: Placement
) -> dict[str, dict[str, float]]:
    samples: dict[str, dict[str, list[float]]] = {kind: {} for kind in servers}
    # Each run starts on addresses the last one did not use (its sockets are
    # reset, but the kernel may still be tearing them down).
    first_address = 2
    with tempfile.TemporaryDirectory(prefix="ws_c50k_") as tmp:
        workdir = Path(tmp)
        for index in range(rounds):
            shift = index % len(servers)
            for kind in servers[shift:] + servers[:shift]:
                got = measure(kind, sockets, where, workdir, first_address)
                first_address += addresses_for(sockets)
                if first_address + addresses_for(sockets) > 254:
                    first_address = 2
                for key, value in got.items():
                    samples[kind].setdefault(key, []).append(value)
                note(
                    f"round {index + 1}, {kind}: "
                    + ", ".join(f"{key} {value:,.3f}" for key, value in got.items())
                )
    return {
        kind: {key: statistics.median(values) for key, values in got.items()}
        for kind, got in samples.items()
    }


def figures_of(med: dict[str, dict[str, float]]) -> dict[str, dict[str, Any]]:
    figures: dict[str, dict[str, Any]] = {}
    for anchor in (kind for kind in med if kind != OURS):
        for key, unit, higher in (
            ("bytes_per_socket", "bytes per idle socket", False),
            ("broadcast_cpu_s", "server CPU seconds for one broadcast to all", False),
            ("broadcast_s", "seconds until every socket had the broadcast", False),
            ("handshakes_per_s", "handshakes/s while opening", True),
        ):
            figures[f"{key}_vs_{anchor}"] = figure(med[OURS][key], med[anchor][key], unit, higher)
    return figures


def targets(sockets: int, med: dict[str, dict[str, float]]) -> list[tuple[str, bool]]:
    ours = med[OURS]
    held = [
        (f"sockets held: {sockets:,} >= {TARGET_SOCKETS:,}", sockets >= TARGET_SOCKETS),
        (
            f"one broadcast to all: {ours['broadcast_cpu_s']:.3f} s of server CPU"
            f" < {TARGET_BROADCAST_CPU:g} s",
            ours["broadcast_cpu_s"] < TARGET_BROADCAST_CPU,
        ),
    ]
    if "websockets" in med:
        ratio = ours["bytes_per_socket"] / med["websockets"]["bytes_per_socket"]
        held.append(
            (
                f"memory per socket vs websockets: {ratio:.2f}x <= {TARGET_MEMORY_RATIO:g}x",
                ratio <= TARGET_MEMORY_RATIO,
            )
        )
    return held


def print_table(
    sockets: int,
    why: list[str],
    rounds: int,
    where: Placement,
    med: dict[str, dict[str, float]],
) -> None:
    print(f"{sockets:,} idle WebSockets on one node, median of {rounds} round(s)")
    if why:
        print("fewer than asked: " + "; ".join(why))
    print(f"{where.note}; client: node, plain sockets (bench/ws_client/client.js)")
    print(
        f"the client's sockets spread over {addresses_for(sockets)} loopback address(es); "
        "ours: the default protocol layer"
    )
    print()
    print(
        f"{'server':12} {'B/socket':>10} {'handshk/s':>10} {'bcast CPU s':>12} "
        f"{'bcast s':>9} {'client share':>13}"
    )
    for kind, got in med.items():
        print(
            f"{kind:12} {got['bytes_per_socket']:>10,.0f} {got['handshakes_per_s']:>10,.0f} "
            f"{got['broadcast_cpu_s']:>12.3f} {got['broadcast_s']:>9.3f} "
            f"{got['client_share']:>13.2f}"
        )
    print("bcast: one message to every socket; client share: of one CPU, during the broadcast")
    print()
    if len(med) > 1:
        print_figures(figures_of(med), 34)
        print()
    if OURS in med:
        for text, held in targets(sockets, med):
            print(f"target {'met' if held else 'NOT met'}: {text}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sockets", type=int, default=SOCKETS, help="sockets to hold (50,000)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per figure (median)")
    parser.add_argument(
        "--servers",
        default=",".join(SERVERS),
        help=f"comma-separated servers to run (default all: {','.join(SERVERS)})",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    servers = tuple(kind for kind in args.servers.split(",") if kind)
    if set(servers) - set(SERVERS) or not servers:
        parser.error(f"--servers takes some of {','.join(SERVERS)}")
    if args.sockets < 1 or args.rounds < 1:
        parser.error("--sockets and --rounds must be at least 1")
    if (command := client_missing()) is not None:
        print(f"the load client needs node; run:\n    {command}", file=sys.stderr)
        sys.exit(2)
    sockets, why = sockets_allowed(args.sockets)
    for reason in why:
        note(f"fewer sockets than asked: {reason}")
    where = placement(PLACEMENT_NOTES)
    med = measure_all(sockets, args.rounds, servers, where)
    if args.json:
        out: dict[str, Any] = {"sockets": sockets, "servers": med}
        if len(med) > 1 and OURS in med:
            out["figures"] = figures_of(med)
        if OURS in med:
            out["targets"] = dict(targets(sockets, med))
        print(json.dumps(out))
    else:
        print_table(sockets, why, args.rounds, where, med)


if __name__ == "__main__":
    main()
