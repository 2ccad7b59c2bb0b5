"""A small application as a supervision tree: let it crash, and stay up.

    python -m examples.supervised_app [--port 8080] [--duration SECONDS] [--crash-every SECONDS]
                                      [--observer PORT [--show-state]]

    app (Supervisor, one_for_one)
    ├── tally   GenServer registered as "tally" (and as the global name
    │           "app.tally"): counts results and crashes
    ├── pool    Supervisor, simple_one_for_one: one short-lived worker per job
    ├── flaky   a process that crashes on purpose every few seconds
    ├── feeder  starts a job in the pool every so often
    └── web     the HTTP server's listener: GET / shows the tally,
                GET /kill-web kills the listener, which comes back on its port

Watch `flaky` crash and come back under a new Pid while everything else goes
on. With `--observer PORT` the observer serves a live page of it all on
that port (it prints its URL and the kill token that its kill buttons need).
Crash reports and supervisor reports are printed as one line each (the
crash reports' tracebacks are left out here to keep the output short).
"""

from __future__ import annotations

import logging
import sys
import time
from functools import partial
from typing import Any

import trio

import actors
import httpserver
import observer
from actors import GenServer, Supervisor, child
from examples._cli import arguments

START = time.monotonic()


def say(text: str) -> None:
    print(f"[{time.monotonic() - START:5.1f}s] {text}", flush=True)


class Tally(GenServer):
    """Holds the application's state: results per job, and crashes seen."""

    async def init(self) -> None:
        self.results: dict[int, int] = {}
        self.flaky_starts = 0
        await actors.register_global("app.tally")  # in a cluster, one owner in all of it

    def handle_call(self, request: Any, from_: actors.From) -> Any:
        match request:
            case "flaky started":
                self.flaky_starts += 1
                return self.flaky_starts
            case "summary":
                return {"jobs done": len(self.results), "flaky crashes": self.flaky_starts - 1}
        raise ValueError(f"tally does not know {request!r}")

    def handle_cast(self, msg: Any) -> None:
        match msg:
            case ("result", n, value, worker):
                self.results[n] = value
                say(f"tally: job {n} done by worker {worker}: {n}² = {value}")


async def square(n: int) -> None:
    """A pool worker: one job, then it exits "normal" (transient: not restarted)."""
    actors.cast("tally", ("result", n, n * n, actors.self()))


async def flaky(crash_every: float) -> None:
    generation = await actors.call("tally", "flaky started")
    if generation == 1:
        say(f"flaky {actors.self()}: started")
    else:
        say(f"flaky {actors.self()}: back again, generation {generation}")
    await trio.sleep(crash_every)
    say(f"flaky {actors.self()}: crashing on purpose now")
    raise ZeroDivisionError("flaky crashed on purpose")


async def feeder(job_every: float) -> None:
    n = 0
    while True:
        await trio.sleep(job_every)
        n += 1
        await actors.start_child("pool", n)


async def web(req: httpserver.Req) -> None:
    """The web child's loop: the tally, or the listener killed on purpose."""
    if req.path == "/kill-web":
        await req.ok("killing the web listener on purpose; it comes back on the same port\n")
        listener = actors.whereis("web")
        say(f"web: killing the listener {listener} on purpose")
        if listener is not None:
            actors.exit(listener, "kill")  # this connection, linked to it, ends too
        return
    summary = await actors.call("tally", "summary")
    await req.ok(f"{summary}\n", {"Content-Type": "text/plain; charset=utf-8"})


async def app(crash_every: float, job_every: float, ip: str, port: int) -> actors.Pid:
    # Keyword arguments of a start function go through functools.partial.
    tally = child(partial(Tally.start_link, name="tally"), id="tally")
    pool = child(
        partial(
            Supervisor.start_link,
            [child(square, restart="transient")],
            strategy="simple_one_for_one",
            name="pool",
        ),
        id="pool",
    )
    return await Supervisor.start_link(
        [
            tally,
            pool,
            child(flaky, crash_every, id="flaky"),
            child(feeder, job_every, id="feeder"),
            child(partial(httpserver.start_link, ip=ip, port=port, loop=web, name="web"), id="web"),
        ],
        strategy="one_for_one",
        intensity=5,
        period=10,
        name="app",
    )


class OneLine(logging.Formatter):
    """Supervisor and crash reports as one timestamped line each."""

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        return f"[{time.monotonic() - START:5.1f}s] {message}"


async def main(
    duration: float | None,
    crash_every: float,
    job_every: float,
    ip: str,
    port: int,
    observer_port: int | None = None,
    show_state: bool = False,
) -> None:
    actors.trap_exits()
    if observer_port is not None:
        # Beside the app's tree, not in it: it shows the tree even if the tree gives up.
        # It prints "observer on http://...:PORT/ kill token: ...".
        await observer.start_link(port=observer_port, show_state=show_state)
    # Bind the port now, so that a restarted listener finds it again even
    # when --port 0 asked for any free one.
    probe = httpserver.start(ip=ip, port=port, loop=web)
    port = httpserver.port(probe)
    await httpserver.stop(probe)
    sup = await app(crash_every, job_every, ip, port)  # returns once every child has started
    say(f"app supervisor {sup} started its children: tally, pool, flaky, feeder, web")
    print(f"listening on http://{ip}:{port}/", flush=True)
    with trio.move_on_after(duration if duration is not None else float("inf")):
        msg = await actors.receive(actors.Exit(sup, actors.ANY))
        say(f"the app supervisor exited: {msg.reason!r}")
        return
    summary = await actors.call("tally", "summary")
    say(f"after {duration} s: {summary}; stopping the app")
    actors.exit(sup, "shutdown")
    msg = await actors.receive(actors.Exit(sup, actors.ANY), timeout=10)
    say(f"the app supervisor stopped: {msg.reason!r}")


def one_line_reports() -> None:
    """Crash and supervisor reports as one line each, on stdout. Set up
    before `actors.run`, so that `run` finds logging configured and adds
    no handler of its own (which would print each report a second time,
    traceback included)."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(OneLine())
    reports = logging.getLogger("actors")
    reports.addHandler(handler)
    reports.setLevel(logging.ERROR)  # crashes and restarts; INFO adds every start
    reports.propagate = False


def cli() -> None:
    parser = arguments("A supervision tree that stays up.")
    parser.add_argument("--duration", type=float, default=None, help="stop after N s")
    parser.add_argument("--crash-every", type=float, default=3.0, help="flaky's lifetime")
    parser.add_argument("--job-every", type=float, default=1.0, help="feeder's pace")
    parser.add_argument("--observer", type=int, metavar="PORT", help="serve the observer page")
    parser.add_argument("--show-state", action="store_true", help="the observer shows states")
    args = parser.parse_args()
    one_line_reports()
    try:
        actors.run(
            main,
            args.duration,
            args.crash_every,
            args.job_every,
            args.ip,
            args.port,
            args.observer,
            args.show_state,
        )
    except KeyboardInterrupt:
        say("interrupted")


if __name__ == "__main__":
    cli()
