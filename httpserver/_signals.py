"""SIGTERM and SIGINT: drain every server of this OS process, then exit 0;
SIGHUP: replace the workers of `workers=N` (a deploy that drops nothing).

A deploy (systemd, Kubernetes, a supervisor) asks a program to stop with
SIGTERM, a person with Ctrl-C. Either one starts, for every server this OS
process runs, the drain `httpserver.stop` does: stop accepting, let the
requests in flight finish within `shutdown_timeout`, close idle keep-alive
connections (WebSockets close with 1001, workers drain too). Then the
program ends with exit code 0, without the user writing signal code.

One guard per node does it: the first server started from the main thread
opens trio's signal receiver (at once, synchronously, so a signal that
comes right after `start` returns is already ours) and hands it to a guard
process, which watches every server started after it. The guard lives as
long as the node (a server that stops on its own is just forgotten): were
it to quit with its last server, a server started meanwhile would go
unwatched, and trio's receivers restore the previous handlers correctly
only when they close in the reverse order of opening. When the node ends,
the program's previous handlers are back. A program that already handles SIGTERM itself (its
own `trio.open_signal_receiver`, say) keeps both signals, as does one
that starts its servers with `handle_signals=False`; a server started
outside the main thread never touches them. `actors.run`'s own SIGTERM
handler (which ends the node as Ctrl-C does) is no program's: the guard
takes over from it, so that a server drains first.

SIGHUP, as gunicorn and uvicorn read it: each server with workers starts
new worker processes on its sockets and lets the old ones drain, one by
one (`_workers.Workers.replace_all`); a new release's code then serves
without a connection dropped. A program with no such server drains and
exits on SIGHUP, as on SIGTERM (a hang-up ends a program, by default).
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
from typing import Any

import trio

import actors
import actors.lowlevel

__all__ = ["watch"]

logger = logging.getLogger("httpserver")

_guards: dict[trio.lowlevel.TrioToken, actors.Pid] = {}  # one per running node


def watch(listener: actors.Pid) -> None:
    """Have this node's guard drain `listener` on SIGTERM / SIGINT (called
    by `start` in the process that starts the server)."""
    if threading.current_thread() is not threading.main_thread():
        return
    token = trio.lowlevel.current_trio_token()
    guard = _guards.get(token)
    if guard is None or actors.process_info(guard) is None:
        handler = signal.getsignal(signal.SIGTERM)
        if handler not in (signal.SIG_DFL, None) and not actors.lowlevel.is_run_handler(handler):
            return  # the program handles its signals itself: they stay its own
        wanted = [signal.SIGTERM]
        if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:  # as a background job,
            wanted.append(signal.SIGINT)  # or a worker, leaves it: so do we
        if signal.getsignal(signal.SIGHUP) in (signal.SIG_DFL, None):  # not nohup's, nor
            wanted.append(signal.SIGHUP)  # the program's own (a log rotation, say)
        receiver = trio.open_signal_receiver(*wanted)
        signals = receiver.__enter__()  # the handlers are ours from now on
        guard = actors.spawn(_guard_main, token, receiver, signals)
        _guards[token] = guard
    actors.send(guard, ("$watch", listener))


async def _guard_main(
    token: trio.lowlevel.TrioToken, receiver: contextlib.AbstractContextManager[Any], signals: Any
) -> None:
    me = actors.self()
    watched: dict[actors.Ref, actors.Pid] = {}
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_forward, signals, me)
            while True:
                match await actors.receive():
                    case ("$watch", actors.Pid() as pid):
                        watched[actors.monitor(pid)] = pid
                    case actors.Down(ref, _, _):
                        watched.pop(ref, None)  # it stopped on its own
                    case ("$signal", signum) if signum == signal.SIGHUP and _with_workers(watched):
                        logger.warning("SIGHUP: replacing the workers one by one")
                        for pid in watched.values():
                            actors.send(pid, ("$replace_workers", None))
                    case ("$signal", signum):
                        await _drain_all(watched, signal.Signals(signum).name)
                        raise SystemExit(0)  # the program ends, as a clean exit
    finally:
        if _guards.get(token) == me:
            del _guards[token]
        receiver.__exit__(None, None, None)  # the previous handlers are back


def _with_workers(watched: dict[actors.Ref, actors.Pid]) -> bool:
    from ._listener import has_workers

    return any(has_workers(pid) for pid in watched.values())


async def _forward(signals: Any, guard: actors.Pid) -> None:
    async for signum in signals:
        actors.send(guard, ("$signal", signum))


async def _drain_all(watched: dict[actors.Ref, actors.Pid], name: str) -> None:
    """Stop every watched server at once, as `httpserver.stop` does, and
    wait for them all. A second signal meanwhile changes nothing: the
    drain is already bounded by each server's shutdown_timeout."""
    logger.warning("%s: draining %d server(s), then exiting", name, len(watched))
    for pid in watched.values():
        actors.send(pid, ("$stop", None))
    while watched:
        match await actors.receive():
            case actors.Down(ref, _, _):
                watched.pop(ref, None)
            case ("$watch", actors.Pid() as pid):  # restarted by a supervisor meanwhile
                watched[actors.monitor(pid)] = pid
                actors.send(pid, ("$stop", None))
            case _:
                pass
