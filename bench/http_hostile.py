"""Hostile clients against the hello example, default options: is a normal client still served?

    python -m bench.http_hostile [--connections N] [--duration S] [--json]

The server is examples/hello_world.py, default options (recv_timeout 30 s,
body_min_rate 1024 B/s, send_timeout 30 s), in its own process pinned to one
CPU (bench/_harness.py); this process is the clients, pinned to another.
For `--duration` seconds (30) three attacks run at once, `--connections`
(1000) connections each, opened at RAMP (500) a second in all, every
connection replaced by a new one when the server closes it:

  slowloris  a request head trickled: the request line, then one header
             line every 5 s, never the blank line. Deadline: recv_timeout
             from connect (the whole head), ending in 408.
  slow body  a whole head announcing a 1 MB body, then one body byte every
             5 s. Deadline: recv_timeout plus 1 s per body_min_rate bytes
             received, from the end of the head, ending in 408.
  slow read  as slowhttptest -X: a 1 KiB receive window, 5 pipelined
             GETs, then 32 bytes read every 5 s. Hello's answers fit in the
             socket buffers, so the server's writes all complete and the
             connection is then an idle keep-alive one: its deadline is
             recv_timeout after the last answer (about connect time),
             ending in a plain close (or 408 once the byte a second this
             client also trickles has begun a next request head). The
             client sees the close by a reset or the socket's TCP state,
             polled every 0.5 s, since the FIN waits behind the answers
             it has not read. (A writer blocked by a reader
             that takes nothing is send_timeout's case; hello's answers are
             too small to block one without a pipelining flood, so that
             deadline is tested in tests/test_http_deadlines.py instead.)

Meanwhile a normal client opens a new connection every 0.1 s and GETs /;
the bench prints its p50/p99 latency and success rate (200 within 1 s), the
server's RSS and open fds before, during (the most seen, sampled every
second) and after the attack, and for each attack how many connections
were closed within their deadline (plus `SLACK` seconds), and the latest
close past it. Targets: every normal request 200 within 1 s; every
attacking connection closed within its deadline.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import signal
import socket
import statistics
import struct
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import trio

from bench._harness import HOST, PlacementNotes, Server, note, placement, serving

RECV_TIMEOUT = 30.0  # the server's defaults, which the deadlines follow
BODY_MIN_RATE = 1024.0
SLACK = 2.0  # seconds past its deadline a close still counts as on time
TRICKLE_EVERY = 5.0
NORMAL_EVERY = 0.1
NORMAL_OK_WITHIN = 1.0
TCP_CLOSE, TCP_CLOSE_WAIT = 7, 8  # tcpi_state, the first byte of struct tcp_info
PIPELINED = 5
RAMP = 500  # attacking connections opened per second at the start (slowhttptest's default: 50)
PLACEMENT_NOTES = PlacementNotes(
    one_cpu="only one CPU ({cpus}): the server and the clients run unpinned, sharing it",
    no_taskset="taskset is missing: the server and the clients run unpinned",
    pinned="the server pinned to CPU {server}, the clients to CPU {client}",
)
KINDS = ("slowloris", "slow body", "slow read")


@dataclass
class Attack:
    """What one kind of attacking connection saw."""

    kind: str
    opened: int = 0
    closed_in_time: int = 0
    late: list[float] = field(default_factory=list)  # seconds past deadline + SLACK
    unclosed: int = 0  # still open at the end of the wait for closes
    connect_failed: int = 0
    answers: dict[str, int] = field(default_factory=dict)  # first status line seen

    def record(self, overshoot: float | None, answer: bytes) -> None:
        status = answer.split(b"\r\n", 1)[0].decode("latin-1") if answer else "(closed)"
        self.answers[status] = self.answers.get(status, 0) + 1
        if overshoot is None:
            self.unclosed += 1
        elif overshoot <= SLACK:
            self.closed_in_time += 1
        else:
            self.late.append(overshoot - SLACK)


@dataclass
class Normal:
    latencies: list[float] = field(default_factory=list)  # of 200s
    slow: list[tuple[float, float]] = field(default_factory=list)  # (began into the attack, took)
    attempts: int = 0
    ok_within: int = 0
    failures: dict[str, int] = field(default_factory=dict)


# -- the attacking connections ---------------------------------------------------------


async def _read_answer(stream: trio.SocketStream) -> bytes:
    """What the server sends until it closes (or resets)."""
    received = b""
    try:
        while data := await stream.receive_some(4096):
            received += data
    except trio.BrokenResourceError:
        pass
    return received


async def _trickle(stream: trio.SocketStream, piece: bytes) -> None:
    with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
        while True:
            await trio.sleep(TRICKLE_EVERY)
            await stream.send_all(piece)


async def slowloris(port: int, wait: float) -> tuple[float | None, bytes]:
    stream = await trio.open_tcp_stream(HOST, port)
    start = trio.current_time()
    async with stream, trio.open_nursery() as nursery:
        await stream.send_all(b"GET / HTTP/1.1\r\nHost: x\r\n")
        nursery.start_soon(_trickle, stream, b"X-Slow: b\r\n")
        with trio.move_on_after(wait):
            answer = await _read_answer(stream)
            nursery.cancel_scope.cancel()
            return trio.current_time() - start - RECV_TIMEOUT, answer
        nursery.cancel_scope.cancel()
    return None, b""


async def slow_body(port: int, wait: float) -> tuple[float | None, bytes]:
    stream = await trio.open_tcp_stream(HOST, port)
    async with stream, trio.open_nursery() as nursery:
        await stream.send_all(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n")
        start = trio.current_time()
        sent = [0]

        async def trickle_body() -> None:
            with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
                while True:
                    await trio.sleep(TRICKLE_EVERY)
                    await stream.send_all(b"b")
                    sent[0] += 1

        nursery.start_soon(trickle_body)
        with trio.move_on_after(wait):
            answer = await _read_answer(stream)
            nursery.cancel_scope.cancel()
            deadline = RECV_TIMEOUT + sent[0] / BODY_MIN_RATE
            return trio.current_time() - start - deadline, answer
        nursery.cancel_scope.cancel()
    return None, b""


def _tcp_state(sock: trio.socket.SocketType) -> int:
    info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 8)
    state: int = struct.unpack("B", info[:1])[0]
    return state


async def slow_read(port: int, wait: float) -> tuple[float | None, bytes]:
    sock = trio.socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)  # a small window
    await sock.connect((HOST, port))
    start = trio.current_time()
    stream = trio.SocketStream(sock)
    first = b""
    # One byte each 0.5 s of a next request: it lets the server's close be seen
    # (an orphaned socket answers data with a reset) before our unread
    # answers are drained, since its FIN waits behind them.
    probe = b"GET / HTTP/1.1\r\nHost: x\r\n" + b"X-Slow: b\r\n" * 100
    async with stream:
        await stream.send_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" * PIPELINED)
        ticks = 0
        with trio.move_on_after(wait):
            while True:
                await trio.sleep(0.5)
                ticks += 1
                try:
                    with trio.move_on_after(0.1):  # neither may wait: this client is slow
                        await sock.send(probe[ticks - 1 : ticks])
                        if ticks % int(2 * TRICKLE_EVERY) == 0:
                            data = await sock.recv(32)
                            if not data:
                                break
                            first = first or data
                except OSError:
                    break  # reset: the server closed
                if _tcp_state(sock) in (TCP_CLOSE, TCP_CLOSE_WAIT):
                    break
            return trio.current_time() - start - RECV_TIMEOUT, first
    return None, b""


ATTACKS = {"slowloris": slowloris, "slow body": slow_body, "slow read": slow_read}


async def attacker(kind: str, port: int, until: float, wait: float, into: Attack) -> None:
    """Connect, attack, and when the server closes connect again, until `until`."""
    while trio.current_time() < until:
        into.opened += 1
        try:
            overshoot, answer = await ATTACKS[kind](port, wait)
        except OSError:
            into.connect_failed += 1
            await trio.sleep(1)
            continue
        into.record(overshoot, answer)


# -- the normal client and the samples --------------------------------------------------


async def normal_client(port: int, until: float, into: Normal) -> None:
    began = trio.current_time()

    async def one() -> None:
        into.attempts += 1
        start = trio.current_time()
        try:
            with trio.fail_after(10):
                stream = await trio.open_tcp_stream(HOST, port)
                async with stream:
                    await stream.send_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                    answer = await _read_answer(stream)
        except (OSError, trio.TooSlowError) as exc:
            why = type(exc).__name__
            into.failures[why] = into.failures.get(why, 0) + 1
            return
        took = trio.current_time() - start
        if answer.startswith(b"HTTP/1.1 200 ") and answer.endswith(b"Hello World."):
            into.latencies.append(took)
            into.ok_within += took <= NORMAL_OK_WITHIN
            if took > NORMAL_OK_WITHIN:
                into.slow.append((start - began, took))
        else:
            status = answer.split(b"\r\n", 1)[0].decode("latin-1") or "(closed)"
            into.failures[status] = into.failures.get(status, 0) + 1

    async with trio.open_nursery() as nursery:
        while trio.current_time() < until:
            nursery.start_soon(one)
            await trio.sleep(NORMAL_EVERY)


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


async def sampler(server: Server, peaks: dict[str, int]) -> None:
    while True:
        peaks["rss"] = max(peaks.get("rss", 0), server.vm_rss())
        peaks["fds"] = max(peaks.get("fds", 0), open_fds(server.proc.pid))
        await trio.sleep(1)


async def run_attack(
    server: Server, connections: int, duration: float
) -> tuple[dict[str, Attack], Normal, dict[str, int]]:
    attacks = {kind: Attack(kind) for kind in KINDS}
    normal = Normal()
    peaks: dict[str, int] = {}
    # How long a connection is watched for its close: its deadline, the body's
    # growth over the attack, the slack, and a little more to see a late one.
    wait = RECV_TIMEOUT + duration / TRICKLE_EVERY / BODY_MIN_RATE + SLACK + 10
    async with trio.open_nursery() as outer:
        outer.start_soon(sampler, server, peaks)
        until = trio.current_time() + duration
        async with trio.open_nursery() as nursery:
            nursery.start_soon(normal_client, server.port, until, normal)
            for _ in range(connections):
                for kind in KINDS:
                    nursery.start_soon(attacker, kind, server.port, until, wait, attacks[kind])
                await trio.sleep(len(KINDS) / RAMP)
        outer.cancel_scope.cancel()
    return attacks, normal, peaks


# -- the report ---------------------------------------------------------------------------


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def report(
    attacks: dict[str, Attack],
    normal: Normal,
    before: dict[str, int],
    during: dict[str, int],
    after: dict[str, int],
) -> dict[str, Any]:
    lat = normal.latencies
    return {
        "normal": {
            "attempts": normal.attempts,
            "ok_within_1s": normal.ok_within,
            "success_rate": normal.ok_within / normal.attempts if normal.attempts else 0.0,
            "p50_ms": statistics.median(lat) * 1e3 if lat else float("nan"),
            "p99_ms": percentile(lat, 0.99) * 1e3,
            "failures": normal.failures,
            "slow": [(round(at, 1), round(took, 2)) for at, took in normal.slow],
        },
        "server": {"before": before, "during_max": during, "after": after},
        "attacks": {
            kind: {
                "connections": a.opened,
                "closed_in_time": a.closed_in_time,
                "late": len(a.late),
                "latest_past_deadline_s": max(a.late, default=0.0),
                "unclosed": a.unclosed,
                "connect_failed": a.connect_failed,
                "answers": a.answers,
            }
            for kind, a in attacks.items()
        },
        "targets_met": normal.ok_within == normal.attempts
        and all(a.closed_in_time == a.opened - a.connect_failed for a in attacks.values()),
    }


def print_report(result: dict[str, Any], connections: int, duration: float, where: str) -> None:
    print(
        f"hostile clients against examples/hello_world.py (default options), {duration:.0f} s, "
        f"{connections} connections per attack"
    )
    print(f"{where}; deadline slack {SLACK:.0f} s")
    n = result["normal"]
    print()
    print(
        f"normal client: {n['attempts']} requests, {n['ok_within_1s']} got 200 within 1 s "
        f"({n['success_rate']:.1%}); p50 {n['p50_ms']:.1f} ms, p99 {n['p99_ms']:.1f} ms"
        + (f"; failures {n['failures']}" if n["failures"] else "")
    )
    if n["slow"]:
        slow = ", ".join(f"{took:.2f} s at {at:.1f} s" for at, took in n["slow"])
        print(f"  over 1 s: {slow} (into the attack)")
    s = result["server"]
    c = result["cpu"]
    print(
        f"CPU over the run: server {c['server_cpu']:.0%} of one core, "
        f"clients {c['clients_cpu']:.0%}; load average {os.getloadavg()[0]:.2f}"
    )
    print()
    print(f"{'server':8} {'RSS MiB':>9} {'open fds':>9}")
    for label, key in (("before", "before"), ("during", "during_max"), ("after", "after")):
        print(f"{label:8} {s[key]['rss'] / 2**20:>9.1f} {s[key]['fds']:>9}")
    print()
    print(
        f"{'attack':10} {'conns':>6} {'closed in time':>15} {'late':>5} {'unclosed':>9} "
        f"{'latest late s':>14} {'no connect':>10}  answers"
    )
    for kind, a in result["attacks"].items():
        answers = ", ".join(f"{k}: {v}" for k, v in sorted(a["answers"].items()))
        print(
            f"{kind:10} {a['connections']:>6} {a['closed_in_time']:>15} {a['late']:>5} "
            f"{a['unclosed']:>9} {a['latest_past_deadline_s']:>14.1f} {a['connect_failed']:>10}  "
            f"{answers}"
        )
    print()
    print("targets met" if result["targets_met"] else "targets NOT met")


def raise_fd_limit(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if hard < needed:
        note(f"the fd limit {hard} is below the {needed} this run needs: expect connect failures")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--connections", type=int, default=1000, help="per attack (1000)")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of attack (30)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    if args.connections < 1 or args.duration <= 0:
        parser.error("--connections and --duration must be positive")
    raise_fd_limit(len(KINDS) * args.connections + 100)
    where = placement(PLACEMENT_NOTES)
    if where.client:  # this process is the clients: pin it as the harness pins a client
        os.sched_setaffinity(0, {int(where.client[-1])})
    command = [sys.executable, "-m", "examples.hello_world", "--port"]
    with (
        tempfile.TemporaryDirectory(prefix="http_hostile_") as tmp,
        serving(
            where,
            "hello",
            lambda port: [*command, str(port)],
            Path(tmp),
            signal.SIGINT,
            reset_sigint=True,
        ) as server,
    ):
        before = {"rss": server.vm_rss(), "fds": open_fds(server.proc.pid)}
        cpu = (server.cpu_seconds(), time.process_time(), time.monotonic())
        attacks, normal, during = trio.run(run_attack, server, args.connections, args.duration)
        wall = time.monotonic() - cpu[2]
        load = {
            "server_cpu": (server.cpu_seconds() - cpu[0]) / wall,
            "clients_cpu": (time.process_time() - cpu[1]) / wall,
        }
        server.check_alive()
        time.sleep(2)  # for the last closes to be torn down
        after = {"rss": server.vm_rss(), "fds": open_fds(server.proc.pid)}
    result = report(attacks, normal, before, during, after)
    result["cpu"] = load
    if args.json:
        print(json.dumps(result))
    else:
        print_report(result, args.connections, args.duration, where.note)


if __name__ == "__main__":
    main()
