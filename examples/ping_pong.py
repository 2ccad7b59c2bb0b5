"""Ping-pong, the first program of Erlang's getting-started guide, on trio.

    python -m examples.ping_pong [--count N]

`pong` is a registered process that answers every ("ping", sender) with
"pong". `ping` sends N pings, waiting for each answer, then tells pong it
is finished. The first process watches both with monitors and prints the
reason each one ended with.
"""

from __future__ import annotations

import argparse
import time

import actors


async def pong(verbose: bool) -> None:
    while True:
        match await actors.receive():
            case ("ping", sender):
                if verbose:
                    print(f"  pong {actors.self()} got ping from {sender}")
                actors.send(sender, "pong")
            case "finished":
                print("  pong: finished")
                return


async def ping(count: int, verbose: bool) -> None:
    for _ in range(count):
        actors.send("pong", ("ping", actors.self()))
        await actors.receive("pong", timeout=5.0)
        if verbose:
            print(f"  ping {actors.self()} got pong")
    actors.send("pong", "finished")


async def main(count: int) -> None:
    verbose = count <= 10
    pong_pid = actors.spawn(pong, verbose, name="pong")
    pong_ref = actors.monitor(pong_pid)
    started = time.perf_counter()
    ping_pid, ping_ref = actors.spawn_monitor(ping, count, verbose)
    print(f"spawned pong {pong_pid} (registered as 'pong') and ping {ping_pid}")
    for _ in range(2):
        down = await actors.receive(actors.Down, timeout=60.0)
        who = "ping" if down.ref == ping_ref else "pong" if down.ref == pong_ref else "?"
        print(f"{who} {down.pid} ended with reason {down.reason!r}")
    elapsed = time.perf_counter() - started
    print(f"{count} round trips in {elapsed:.3f} s ({count / elapsed:,.0f}/s)")


def cli() -> None:
    parser = argparse.ArgumentParser(description="Erlang's ping-pong, on trio.")
    parser.add_argument("--count", type=int, default=3, help="how many pings (default 3)")
    args = parser.parse_args()
    actors.run(main, args.count)


if __name__ == "__main__":
    cli()
