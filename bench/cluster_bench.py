"""Benchmark of a cluster of two nodes in two OS processes, through Redis,
each figure beside an anchor measured in the same run.

    python -m bench.cluster_bench [--json] [--messages N] [--rounds N]

Starts its own redis-server (on a free port, no persistence); node b runs
in a subprocess, node a in this process; with two CPUs or more, a and b
are pinned apart (Redis shares them: say so when you quote a figure).

Figures (ours / anchor):
- remote send: messages/s from a process on a to one on b (N messages, then
  a reply when all arrived), beside a bare coredis transfer of as many
  messages between the same two OS processes, pipelined XADD and XREAD
  BLOCK: with 1,000 pickled messages per stream entry (what our transport
  does, without its signing and dispatch), and with one entry per message;
  and beside the same loop to a sink on node a itself (a local send: what
  a message costs without the cluster, sender and receiver on one CPU).
- latency p50 / p99: one message a -> b and its answer b -> a, one at a
  time, beside a bare XADD + XREAD BLOCK round trip between the same two
  processes (two streams) with coredis, and with no client library at all
  (RESP written on a socket: what Redis itself costs; coredis spends about
  150 µs of CPU per command here); and a coredis PING for scale.
- call: gen_server call round trips/s to a server on b (from the mean
  time of a call), beside the bare XADD + XREAD round trip rates from
  their mean times (coredis, and raw RESP); and a call's median time beside
  the coredis round trip's median.
- group send: deliveries/s of messages sent to each member of a group of
  100 processes on b (pg's members from a's replica), beside remote send.
- detection: seconds from kill -9 of node b to a monitor's
  Down(..., "noconnection"), beside the heartbeat timeout (TTL).
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from typing import Any

import trio

import actors
from bench._harness import figure, free_port, note, print_figures
from bench._raw_resp import RawRedis

HEARTBEAT = 1.0
MISSED = 3
COOKIE = "bench-cookie"


# -- node b (the subprocess) ----------------------------------------------------


class Counter(actors.GenServer):
    def init(self) -> None:
        self.count = 0

    def handle_call(self, request: Any, from_: actors.From) -> Any:
        self.count += 1
        return self.count


async def sink() -> None:
    """Counts ("n", i); answers ("done?", pid, n) once it has n of them."""
    got = 0
    waiting: tuple[actors.Pid, int] | None = None
    while True:
        match await actors.receive():
            case ("n", _):
                got += 1
            case ("done?", pid, n):
                waiting = (pid, n)
            case ("ping", pid, x):
                actors.send(pid, ("pong", x))
            case "reset":
                got = 0
        if waiting is not None and got >= waiting[1]:
            actors.send(waiting[0], ("done", got))
            waiting, got = None, 0


async def member(counter: actors.Pid) -> None:
    actors.join("bench")
    while True:
        await actors.receive()
        actors.send(counter, ("n", 1))


async def node_b() -> None:
    sink_pid = actors.spawn(sink, name="sink")
    await Counter.start(name="counter")
    for _ in range(100):
        actors.spawn(member, sink_pid)
    actors.spawn(bare_side, name="bare")
    print("ready", flush=True)
    await actors.receive("stop")


async def bare_side() -> None:
    """The anchors' other end, run on request from a: a bare coredis reader
    or echo in node b's OS process."""
    while True:
        match await actors.receive():
            case ("read", url, n, pid):
                actors.send(pid, ("read", await bare_read(url, n)))
            case ("echo", url, n, pid):
                await bare_echo(url, n)
                actors.send(pid, "echoed")
            case ("raw_echo", port, n, pid):
                await raw_echo(port, n)
                actors.send(pid, "echoed")


async def bare_read(url: str, n: int) -> float:
    import coredis

    client = coredis.Redis.from_url(url)
    got = 0
    last_id: str | bytes = "0-0"
    async with client:
        while got < n:
            reply = await client.xread({"bare:transfer": last_id}, count=5000, block=5000)
            for entries in (reply or {}).values():
                for entry in entries:
                    last_id = entry.identifier
                    data = entry.field_values[b"m"]
                    assert isinstance(data, bytes)
                    got += len(pickle.loads(data))
    return got


async def bare_echo(url: str, n: int) -> None:
    import coredis

    client = coredis.Redis.from_url(url)
    last: str | bytes = "0-0"
    async with client:
        for _ in range(n):
            reply = await client.xread({"bare:ping": last}, count=1, block=5000)
            for entries in (reply or {}).values():
                for entry in entries:
                    last = entry.identifier
                    await client.xadd("bare:pong", {"m": entry.field_values[b"m"]})


async def raw_echo(port: int, n: int) -> None:
    """`bare_echo` with no client library (`bench._raw_resp`)."""
    redis = await RawRedis.connect("127.0.0.1", port)
    last = b"0-0"
    try:
        for _ in range(n):
            reply = await redis.command(
                b"XREAD", b"COUNT", b"1", b"BLOCK", b"5000", b"STREAMS", b"raw:ping", last
            )
            for _stream, entries in reply or ():
                for entry_id, fields in entries:
                    last = entry_id
                    await redis.command(b"XADD", b"raw:pong", b"*", b"m", fields[1])
    finally:
        await redis.aclose()


# -- node a (this process) ---------------------------------------------------------


async def remote_send(n: int) -> float:
    start = time.perf_counter()
    for i in range(n):
        actors.send(("sink", "b"), ("n", i))
    actors.send(("sink", "b"), ("done?", actors.self(), n))
    await actors.receive(("done", actors.ANY), timeout=120)
    return n / (time.perf_counter() - start)


async def local_send(n: int) -> float:
    """`remote_send` to a sink on this node."""
    local = actors.spawn(sink)
    start = time.perf_counter()
    for i in range(n):
        actors.send(local, ("n", i))
    actors.send(local, ("done?", actors.self(), n))
    await actors.receive(("done", actors.ANY), timeout=120)
    rate = n / (time.perf_counter() - start)
    actors.exit(local, "kill")
    return rate


async def bare_send(url: str, n: int, per_entry: int) -> float:
    """The same transfer with coredis alone: `per_entry` pickled messages
    per stream entry, entries XADDed in pipelines of 1,000, read on b by
    XREAD BLOCK."""
    import coredis

    client = coredis.Redis.from_url(url)
    async with client:
        await client.delete(["bare:transfer"])
        actors.send(("bare", "b"), ("read", url, n, actors.self()))
        start = time.perf_counter()
        entries = [
            pickle.dumps([("n", i) for i in range(first, min(n, first + per_entry))])
            for first in range(0, n, per_entry)
        ]
        for first in range(0, len(entries), 1000):
            async with client.pipeline(transaction=False) as pipe:
                for data in entries[first : first + 1000]:
                    pipe.xadd("bare:transfer", {"m": data})
        await actors.receive(("read", actors.ANY), timeout=120)
    return n / (time.perf_counter() - start)


async def latencies(rounds: int) -> list[float]:
    me = actors.self()
    times = []
    for i in range(rounds):
        start = time.perf_counter()
        actors.send(("sink", "b"), ("ping", me, i))
        await actors.receive(("pong", i), timeout=10)
        times.append(time.perf_counter() - start)
    return times


async def bare_latencies(url: str, rounds: int) -> list[float]:
    import coredis

    client = coredis.Redis.from_url(url)
    times = []
    async with client:
        await client.delete(["bare:ping", "bare:pong"])
        actors.send(("bare", "b"), ("echo", url, rounds, actors.self()))
        last: str | bytes = "0-0"
        for i in range(rounds):
            start = time.perf_counter()
            await client.xadd("bare:ping", {"m": pickle.dumps(i)})
            while True:
                reply = await client.xread({"bare:pong": last}, count=1, block=5000)
                if reply:
                    last = next(iter(reply.values()))[0].identifier
                    break
            times.append(time.perf_counter() - start)
        await actors.receive("echoed", timeout=30)
    return times


async def raw_latencies(port: int, rounds: int) -> list[float]:
    """`bare_latencies` with no client library: what Redis itself costs."""
    redis = await RawRedis.connect("127.0.0.1", port)
    times = []
    try:
        await redis.command(b"DEL", b"raw:ping", b"raw:pong")
        actors.send(("bare", "b"), ("raw_echo", port, rounds, actors.self()))
        last = b"0-0"
        for i in range(rounds):
            start = time.perf_counter()
            await redis.command(b"XADD", b"raw:ping", b"*", b"m", pickle.dumps(i))
            while True:
                reply = await redis.command(
                    b"XREAD", b"COUNT", b"1", b"BLOCK", b"5000", b"STREAMS", b"raw:pong", last
                )
                if reply:
                    last = reply[0][1][0][0]
                    break
            times.append(time.perf_counter() - start)
        await actors.receive("echoed", timeout=30)
    finally:
        await redis.aclose()
    return times


async def ping_latencies(url: str, rounds: int) -> list[float]:
    import coredis

    client = coredis.Redis.from_url(url)
    times = []
    async with client:
        for _ in range(rounds):
            start = time.perf_counter()
            await client.ping()
            times.append(time.perf_counter() - start)
    return times


async def call_times(rounds: int) -> list[float]:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        await actors.call(("counter", "b"), None)
        times.append(time.perf_counter() - start)
    return times


async def group_send(rounds: int) -> float:
    members = actors.members("bench")
    assert len(members) == 100, len(members)
    start = time.perf_counter()
    for i in range(rounds):
        for pid in members:
            actors.send(pid, i)
    deliveries = rounds * len(members)
    actors.send(("sink", "b"), ("done?", actors.self(), deliveries))
    await actors.receive(("done", actors.ANY), timeout=120)
    return deliveries / (time.perf_counter() - start)


async def detection(b_process: subprocess.Popen[bytes]) -> float:
    ref = actors.monitor(("sink", "b"))  # a name on b: its Down says "noconnection" too
    killed = time.perf_counter()
    os.kill(b_process.pid, signal.SIGKILL)
    down = await actors.receive(actors.Down(ref, actors.ANY, actors.ANY), timeout=30)
    assert down.reason == "noconnection", down
    return time.perf_counter() - killed


def wait_for_port(port: int) -> None:
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def measure(url: str, b_process: subprocess.Popen[bytes], args: argparse.Namespace) -> Any:
    from actors.testing import wait_node

    n, rounds = args.messages, args.rounds
    figures: dict[str, dict[str, Any]] = {}
    async with actors.node(
        name="a", cluster=url, cookie=COOKIE, heartbeat=HEARTBEAT, missed=MISSED
    ):
        await wait_node("b", timeout=30)
        await remote_send(1000)  # warm up both sides
        sends, batched, single, local = [], [], [], []
        for _ in range(3):
            sends.append(await remote_send(n))
            batched.append(await bare_send(url, n, 1000))
            single.append(await bare_send(url, n // 10, 1))
            local.append(await local_send(n))
        figures["remote_send_vs_bare_batched"] = figure(
            statistics.median(sends), statistics.median(batched), "messages/s", True
        )
        figures["remote_send_vs_bare_per_message"] = figure(
            statistics.median(sends), statistics.median(single), "messages/s", True
        )
        figures["remote_send_vs_local_send"] = figure(
            statistics.median(sends), statistics.median(local), "messages/s", True
        )
        ours = await latencies(rounds)
        bare = await bare_latencies(url, rounds)
        raw = await raw_latencies(args.port, rounds)
        pings = await ping_latencies(url, rounds)
        for q, label in ((0.5, "p50"), (0.99, "p99")):
            figures[f"latency_{label}_vs_bare_xadd_xread"] = figure(
                pct(ours, q) * 1e3, pct(bare, q) * 1e3, "ms round trip", False
            )
        figures["latency_p50_vs_raw_resp_xadd_xread"] = figure(
            pct(ours, 0.5) * 1e3, pct(raw, 0.5) * 1e3, "ms round trip", False
        )
        figures["latency_p50_vs_redis_ping"] = figure(
            pct(ours, 0.5) * 1e3, pct(pings, 0.5) * 1e3, "ms round trip", False
        )
        # Rates from mean times, and medians beside medians: a call's mean
        # holds its tail, so it is set beside the anchors' means.
        call = [t for _ in range(3) for t in await call_times(rounds)]
        figures["call_vs_bare_round_trip"] = figure(
            1 / statistics.mean(call), 1 / statistics.mean(bare), "round trips/s", True
        )
        figures["call_p50_vs_bare_round_trip_p50"] = figure(
            pct(call, 0.5) * 1e3, pct(bare, 0.5) * 1e3, "ms a call", False
        )
        figures["call_vs_raw_resp_round_trip"] = figure(
            1 / statistics.mean(call), 1 / statistics.mean(raw), "round trips/s", True
        )
        group_rate = statistics.median([await group_send(max(1, n // 100)) for _ in range(3)])
        figures["group_send_vs_remote_send"] = figure(
            group_rate, statistics.median(sends), "deliveries/s", True
        )
        detected = await detection(b_process)
        figures["detection_vs_heartbeat_timeout"] = figure(
            detected, HEARTBEAT * MISSED, "seconds", False
        )
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--messages", type=int, default=50_000, help="messages per transfer")
    parser.add_argument("--rounds", type=int, default=500, help="round trips per latency figure")
    parser.add_argument("--role", choices=["a", "b"], default="a", help=argparse.SUPPRESS)
    parser.add_argument("--redis", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role == "b":
        actors.run(
            node_b, node="b", cluster=args.redis, cookie=COOKIE, heartbeat=HEARTBEAT, missed=MISSED
        )
        return
    binary = shutil.which("redis-server")
    if binary is None:
        sys.exit("cluster_bench: redis-server is not installed (scripts/install-redis.sh)")
    port = free_port()
    redis = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    cpus = sorted(os.sched_getaffinity(0))
    pin = shutil.which("taskset") is not None and len(cpus) >= 2
    if pin:
        os.sched_setaffinity(0, {cpus[0]})
        note(f"node a on CPU {cpus[0]}, node b on CPU {cpus[1]}; redis-server unpinned")
    else:
        note("one CPU (or no taskset): nodes and Redis share it")
    url = f"redis://127.0.0.1:{port}/0"
    args.port = port
    try:
        wait_for_port(port)
        prefix = ["taskset", "-c", str(cpus[1])] if pin else []
        b_process = subprocess.Popen(
            [*prefix, sys.executable, "-m", "bench.cluster_bench", "--role", "b", "--redis", url],
            stdout=subprocess.PIPE,
        )
        try:
            assert b_process.stdout is not None
            assert b_process.stdout.readline().strip() == b"ready"
            figures = trio.run(measure, url, b_process, args)
        finally:
            if b_process.poll() is None:
                b_process.kill()
            b_process.wait()
    finally:
        redis.terminate()
        redis.wait()
    if args.json:
        print(json.dumps(figures))
    else:
        print_figures(figures, 36)


if __name__ == "__main__":
    main()
