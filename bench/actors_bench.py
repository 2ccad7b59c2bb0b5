"""Benchmark of the actors layer, each figure beside bare trio in the same run.

    python -m bench.actors_bench [--json] [--rounds N] [--quick] [--cpu]

Figures: ping-pong round trips/s between two processes; a ring of 10,000
processes passing a token 100 times (messages/s); spawning 100,000 processes
that wait in receive (seconds, and bytes per process from VmRSS, each
measured in a fresh interpreter). Anchors: the same workload on bare trio
with memory channels, and with a deque and lowlevel park/reschedule; spawn
also beside lowlevel tasks that each enter a cancel scope of their own, the
least a task costs on public trio that can be cancelled alone, as a process
can be killed alone.
Then a selective receive whose match comes behind 50,000 non-matching
messages, each sent while the receiver is parked so that each wakes it,
beside 50,000 plain receives of the same sends (seconds; a receive that
rescanned its queue on every wake-up would be quadratic here); gen_server
call round trips/s beside raw ping-pong between two processes, and the
restart latency of a supervised child (crash order to the new child's
first message) beside a bare trio loop that catches the
crash and starts the task again.
Throughput ratios are ours/anchor (higher is better); time and memory
ratios are ours/anchor (lower is better). Every figure is timed in wall
time, or with `--cpu` in the CPU time of the process that runs it: on a
shared machine the wall time of one workload also holds whatever else the
CPU ran meanwhile, and two runs a minute apart differ by more than the
gaps being measured; each workload here is one busy process, so on an idle
machine the two agree.
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import statistics
import subprocess
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import trio
import trio.lowlevel
import trio.testing

import actors
from bench._bare import (
    BareMailbox,
    ChannelMailbox,
    idle_tasks,
    now,
    ping_pong,
    ring,
    use_clock,
)
from bench._harness import figure, print_figures

# -- the actors side of each workload ------------------------------------------


async def actors_ping_pong(rounds: int) -> float:
    async def ponger() -> None:
        while True:
            reply_to = await actors.receive()
            if reply_to is None:
                return
            actors.send(reply_to, "pong")

    me = actors.self()
    pid = actors.spawn(ponger)
    start = now()
    for _ in range(rounds):
        actors.send(pid, me)
        await actors.receive()
    elapsed = now() - start
    actors.send(pid, None)
    return elapsed


async def actors_ring(size: int, laps: int) -> float:
    me = actors.self()

    async def member() -> None:
        following = await actors.receive()
        while True:
            token = await actors.receive()
            if token == 0:
                actors.send(me, "done")
                actors.send(following, 0)
                return
            actors.send(following, token - 1)

    pids = [actors.spawn(member) for _ in range(size)]
    for index, pid in enumerate(pids):
        actors.send(pid, pids[(index + 1) % size])
    await trio.lowlevel.checkpoint()
    start = now()
    actors.send(pids[0], size * laps)
    await actors.receive("done")
    return now() - start


async def actors_behind(count: int, selective: bool) -> float:
    """Send `count` non-matching messages one at a time, each once the
    receiver is parked again (so that each one wakes it), then "match".
    The receiver waits in one selective receive for "match", or, as the
    anchor, takes every message with plain receives."""
    me = actors.self()

    async def receiver() -> None:
        if selective:
            await actors.receive("match")
        else:
            for _ in range(count + 1):
                await actors.receive()
        actors.send(me, "done")

    pid = actors.spawn(receiver)
    await actors.lowlevel.wait_idle(pid)
    start = now()
    for i in range(count):
        actors.send(pid, i)
        await actors.lowlevel.wait_idle(pid)
    actors.send(pid, "match")
    await actors.receive("done")
    return now() - start


class EchoServer(actors.GenServer):
    def handle_call(self, request: Any, from_: actors.From) -> Any:
        return request


async def actors_calls(rounds: int) -> float:
    pid = await EchoServer.start()
    start = now()
    for _ in range(rounds):
        await actors.call(pid, None)
    return now() - start


async def crashing_child() -> None:
    actors.send("bench", "up")
    await actors.receive()
    raise RuntimeError("crash on purpose")


async def actors_restarts(count: int) -> list[float]:
    """Crash a supervised child `count` times; seconds from each crash
    order to the new child's first message."""
    actors.register("bench")
    sup = await actors.Supervisor.start_link(
        [actors.child(crashing_child, id="c")], intensity=count + 1, period=3600
    )
    await actors.receive("up")
    latencies = []
    for _ in range(count):
        (row,) = await actors.which_children(sup)
        start = now()
        actors.send(row.pid, "crash")
        await actors.receive("up")
        latencies.append(now() - start)
    return latencies


async def bare_restarts(count: int) -> list[float]:
    """The same on bare trio: a loop that catches the child's crash and
    starts it again, the least a restart can cost."""
    box = BareMailbox()
    child_box: list[BareMailbox] = []

    async def child() -> None:
        mine = BareMailbox()
        child_box[:] = [mine]
        box.put("up")
        await mine.get()
        raise RuntimeError("crash on purpose")

    async def supervisor() -> None:
        while True:
            try:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(child)
            except* RuntimeError:
                pass

    latencies = []
    async with trio.open_nursery() as nursery:
        nursery.start_soon(supervisor)
        await box.get()
        for _ in range(count):
            start = now()
            child_box[0].put("crash")
            await box.get()
            latencies.append(now() - start)
        nursery.cancel_scope.cancel()
    return latencies


async def actors_idle(count: int, ready: trio.Event) -> None:
    for _ in range(count):
        actors.spawn(actors.receive)
    await trio.testing.wait_all_tasks_blocked()
    ready.set()


# -- measuring -------------------------------------------------------------------


def in_node(fn: Callable[..., Awaitable[float]], *args: Any) -> float:
    result: float = trio.run(in_node_async, fn, *args)
    return result


async def in_node_async(fn: Callable[..., Awaitable[Any]], *args: Any) -> Any:
    async with actors.node():
        return await fn(*args)


def vm_rss() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def idle_child(kind: str, count: int) -> dict[str, float]:
    """Spawn `count` idle tasks or processes in this interpreter; measure."""
    result: dict[str, float] = {}

    async def main() -> None:
        ready = trio.Event()
        gc.collect()
        before = vm_rss()
        start = now()
        async with trio.open_nursery() as nursery:
            if kind == "actors":
                async with actors.node():
                    await actors_idle(count, ready)
                    result["seconds"] = now() - start
                    result["bytes"] = (vm_rss() - before) / count
            else:
                box = ChannelMailbox if kind == "channels" else BareMailbox
                nursery.start_soon(idle_tasks, box, count, ready, kind == "scoped")
                await ready.wait()
                result["seconds"] = now() - start
                result["bytes"] = (vm_rss() - before) / count
            nursery.cancel_scope.cancel()

    trio.run(main)
    return result


def run_idle(kind: str, count: int, cpu: bool) -> dict[str, float]:
    clock = ["--cpu"] if cpu else []
    out = subprocess.run(
        [sys.executable, "-m", "bench.actors_bench", "--idle-child", kind, str(count), *clock],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout)  # type: ignore[no-any-return]


def median_of(rounds: int, measure: Callable[[], float]) -> float:
    return statistics.median(measure() for _ in range(rounds))


def measure_all(rounds: int, quick: bool, cpu: bool = False) -> dict[str, dict[str, Any]]:
    pp_rounds = 20_000 if quick else 100_000
    ring_size, laps = (10_000, 10) if quick else (10_000, 100)
    idle_count = 20_000 if quick else 100_000
    hops = ring_size * laps
    figures: dict[str, dict[str, Any]] = {}

    # Interleave ours and the anchors round by round so drift hits all alike.
    pp: dict[str, list[float]] = {"actors": [], "lowlevel": [], "channels": []}
    rg: dict[str, list[float]] = {"actors": [], "lowlevel": [], "channels": []}
    for _ in range(rounds):
        pp["actors"].append(pp_rounds / in_node(actors_ping_pong, pp_rounds))
        pp["lowlevel"].append(pp_rounds / trio.run(ping_pong, BareMailbox, pp_rounds))
        pp["channels"].append(pp_rounds / trio.run(ping_pong, ChannelMailbox, pp_rounds))
        rg["actors"].append(hops / in_node(actors_ring, ring_size, laps))
        rg["lowlevel"].append(hops / trio.run(ring, BareMailbox, ring_size, laps))
        rg["channels"].append(hops / trio.run(ring, ChannelMailbox, ring_size, laps))
    med = {k: statistics.median(v) for k, v in pp.items()}
    figures["ping_pong_vs_lowlevel"] = figure(med["actors"], med["lowlevel"], "round trips/s", True)
    figures["ping_pong_vs_channels"] = figure(med["actors"], med["channels"], "round trips/s", True)
    med = {k: statistics.median(v) for k, v in rg.items()}
    figures["ring_vs_lowlevel"] = figure(med["actors"], med["lowlevel"], "messages/s", True)
    figures["ring_vs_channels"] = figure(med["actors"], med["channels"], "messages/s", True)

    # A selective receive whose match comes behind `behind` messages that
    # each woke it, beside plain receives of the same sends, same run.
    behind = 10_000 if quick else 50_000
    sel: dict[str, list[float]] = {"selective": [], "plain": []}
    for _ in range(rounds):
        sel["selective"].append(in_node(actors_behind, behind, True))
        sel["plain"].append(in_node(actors_behind, behind, False))
    figures[f"selective_behind_{behind // 1000}k_vs_plain"] = figure(
        statistics.median(sel["selective"]), statistics.median(sel["plain"]), "seconds", False
    )

    # gen_server calls beside raw ping-pong between two processes, same run.
    calls: dict[str, list[float]] = {"call": [], "ping_pong": []}
    for _ in range(rounds):
        calls["call"].append(pp_rounds / in_node(actors_calls, pp_rounds))
        calls["ping_pong"].append(pp_rounds / in_node(actors_ping_pong, pp_rounds))
    figures["gen_server_call_vs_ping_pong"] = figure(
        statistics.median(calls["call"]),
        statistics.median(calls["ping_pong"]),
        "round trips/s",
        True,
    )

    # Restart latency: crash order to the new child's first message. Crash
    # reports go to a NullHandler here: the figure is the restart, not I/O.
    restart_count = 200 if quick else 1000
    quiet = logging.getLogger("actors")
    quiet.addHandler(logging.NullHandler())
    quiet.propagate = False
    ours: list[float] = []
    bare: list[float] = []
    for _ in range(rounds):
        ours += trio.run(in_node_async, actors_restarts, restart_count)
        bare += trio.run(bare_restarts, restart_count)
    figures["restart_latency_vs_bare_loop"] = figure(
        statistics.median(ours) * 1e6, statistics.median(bare) * 1e6, "microseconds", False
    )

    idle: dict[str, list[dict[str, float]]] = {
        "actors": [],
        "lowlevel": [],
        "scoped": [],
        "channels": [],
    }
    for _ in range(rounds):
        for kind in idle:
            idle[kind].append(run_idle(kind, idle_count, cpu))

    def med_of(kind: str, key: str) -> float:
        return statistics.median(r[key] for r in idle[kind])

    label = f"spawn_{idle_count // 1000}k"
    figures[f"{label}_vs_lowlevel"] = figure(
        med_of("actors", "seconds"), med_of("lowlevel", "seconds"), "seconds", False
    )
    figures[f"{label}_vs_lowlevel_in_own_scopes"] = figure(
        med_of("actors", "seconds"), med_of("scoped", "seconds"), "seconds", False
    )
    figures[f"{label}_vs_channels"] = figure(
        med_of("actors", "seconds"), med_of("channels", "seconds"), "seconds", False
    )
    figures["memory_per_process_vs_lowlevel"] = figure(
        med_of("actors", "bytes"), med_of("lowlevel", "bytes"), "bytes", False
    )
    figures["memory_per_process_vs_channels"] = figure(
        med_of("actors", "bytes"), med_of("channels", "bytes"), "bytes", False
    )
    return figures


def print_table(figures: dict[str, dict[str, Any]]) -> None:
    print_figures(figures, 36, ours="actors", anchor="bare trio", value_width=14)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per figure (median)")
    parser.add_argument("--quick", action="store_true", help="smaller workloads")
    parser.add_argument(
        "--cpu",
        action="store_true",
        help="time with this process's CPU time, not wall time (on a shared machine)",
    )
    parser.add_argument("--idle-child", nargs=2, metavar=("KIND", "COUNT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    use_clock("cpu" if args.cpu else "wall")
    if args.idle_child:
        kind, count = args.idle_child
        print(json.dumps(idle_child(kind, int(count))))
        return
    figures = measure_all(args.rounds, args.quick, args.cpu)
    if args.json:
        print(json.dumps(figures))
    else:
        print_table(figures)


if __name__ == "__main__":
    main()
