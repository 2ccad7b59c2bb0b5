"""A worker OS process of `workers=N` (the other side of `_workers`).

It is started as `python -c "...main()" LIFELINE STATUS NUMBER FD` with two
pipe ends and its slot's listening socket (inherited, `fd`; see
`_workers`): it reads its options from the lifeline, re-imports the program's
main module as `__mp_main__` (so that `__main__.handle_http` unpickles, as
with multiprocessing's "spawn"), starts a listener on that socket
and writes "ready" on the status pipe, or "error WHY" and exits 1. When the
lifeline ends (the main process stopped or died, even by kill -9) it
drains its listener and exits, so it never serves on without its parent.

A main module that starts a server at import time (no
`if __name__ == "__main__":`) would start it again here: while it is being
imported, `booting` is set and `start` refuses, saying so.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import runpy
import signal
import struct
import sys
import traceback
import types
from dataclasses import replace
from typing import IO, Any

import trio

import actors

from . import _log_lines

__all__ = ["booting", "main"]

booting = False  # True while a worker imports the program's main module
refused: str | None = None  # why `start` refused during that import


def refuse_start() -> None:
    """Called by `start`: in a worker importing the main module, refuse."""
    global refused
    refused = (
        f"the main module {_main_name()} started a server when a worker process imported it:"
        ' with workers > 1, start the server under `if __name__ == "__main__":`'
    )
    raise RuntimeError(refused)


def _main_name() -> str:
    module = sys.modules.get("__mp_main__")
    return repr(getattr(module, "__file__", None) or getattr(module, "__name__", "__main__"))


def main() -> None:
    # Ctrl-C reaches the whole process group: the main process alone acts on
    # it (it drains the workers through their lifelines); SIGTERM, sent to a
    # worker on its own, still drains that worker.
    # So is SIGHUP (a terminal's hang-up, or a reload): the main process
    # replaces the workers.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    lifeline, status_fd = int(sys.argv[1]), int(sys.argv[2])
    number, fd = sys.argv[3], int(sys.argv[4])  # before argv becomes the program's
    status = os.fdopen(status_fd, "wb", buffering=0)
    try:
        payload = pickle.loads(
            _read_exactly(lifeline, struct.unpack("!I", _read_exactly(lifeline, 4))[0])
        )
        sys.path[:] = payload["sys_path"]
        sys.argv[:] = payload["argv"]
        for name, level in payload.get("log_levels", {}).items():
            if level:  # (NOTSET: the root's, as in the main process)
                logging.getLogger(name).setLevel(level)
        _log_lines.apply(payload.get("log_lines", {}))
        _import_main(payload["main"])
        try:
            options = replace(pickle.loads(payload["options"]), fd=fd)
        except Exception as exc:
            raise RuntimeError(
                f"cannot load the server's options ({type(exc).__name__}: {exc}): loop, ws_loop"
                " and access_log must be module-level functions that a fresh process can import,"
                ' not defined inside a function or under `if __name__ == "__main__":`'
            ) from exc
    except BaseException as exc:
        traceback.print_exc()
        _report(status, f"error {_reason(exc)}")
        sys.exit(1)
    cluster = payload.get("cluster")
    if cluster is None:
        reason = actors.run(_worker_node, options, lifeline, status)
    else:  # a node of the main process's cluster, named after it
        try:
            reason = _run_in_cluster(cluster, number, options, lifeline, status)
        except actors.ClusterError as exc:
            _report(status, f"error {_reason(exc)}")
            sys.exit(1)
    sys.exit(0 if reason == "normal" else 1)


def _run_in_cluster(
    cluster: dict[str, Any], number: str, options: Any, lifeline: int, status: IO[bytes]
) -> Any:
    """Run the worker as a node of the main process's cluster, named after
    the main process's node (NAME.wN)."""
    return actors.run(
        _worker_node,
        options,
        lifeline,
        status,
        node=f"{cluster['name']}.w{number}",
        cluster=cluster["url"],
        cookie=cluster["cookie"],
        heartbeat=cluster["heartbeat"],
        missed=cluster["missed"],
        sync_groups=False,  # the main process waits for us, blocked: it cannot answer yet
    )


def _reason(exc: BaseException) -> str:
    if refused is not None:
        return refused
    text = f"{type(exc).__name__}: {exc}" if not isinstance(exc, RuntimeError) else str(exc)
    return " ".join(text.split())  # one line


def _read_exactly(fd: int, size: int) -> bytes:
    data = b""
    while len(data) < size:
        more = os.read(fd, size - len(data))
        if not more:
            raise EOFError("the main process closed the lifeline before sending the options")
        data += more
    return data


def _report(status: IO[bytes], line: str) -> None:
    with contextlib.suppress(OSError):  # the main process is gone: nobody to tell
        status.write(line.encode() + b"\n")


def _import_main(where: tuple[str, str] | None) -> None:
    """Run the program's main module as `__mp_main__` and alias it as
    `__main__` (its `if __name__ == "__main__":` block does not run)."""
    global booting
    if where is None:
        return
    kind, value = where
    if kind == "name" and (value == "__main__" or value.endswith(".__main__")):
        return  # `python -m package`: re-running it would run the program
    booting = True
    try:
        if kind == "name":
            content = runpy.run_module(value, run_name="__mp_main__", alter_sys=True)
        else:
            content = runpy.run_path(value, run_name="__mp_main__")
    finally:
        booting = False
    if refused is not None:  # start refused, and the module swallowed it
        raise RuntimeError(refused)
    module = types.ModuleType("__mp_main__")
    module.__dict__.update(content)
    sys.modules["__main__"] = sys.modules["__mp_main__"] = module


async def _worker_node(options: Any, lifeline: int, status: IO[bytes]) -> object:
    from ._listener import bind, spawn_listener

    try:
        listener = spawn_listener(options, bind(options), link=False, ready_to=actors.self())
    except Exception as exc:
        _report(status, f"error {_reason(exc)}")
        return exc
    ref = actors.monitor(listener)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_watch_lifeline, lifeline, listener)
        # "ready" once it accepts: after an ASGI app's lifespan startup
        match await actors.receive(
            ("$listening", listener), actors.Down(ref, listener, actors.ANY)
        ):
            case actors.Down(_, _, reason):
                _report(status, f"error the listener ended before it listened: {reason!r}")
                nursery.cancel_scope.cancel()
                return reason
        _report(status, "ready")
        down = await actors.receive(actors.Down(ref, listener, actors.ANY))
        nursery.cancel_scope.cancel()
    return down.reason


async def _watch_lifeline(fd: int, listener: actors.Pid) -> None:
    """The main process closed the lifeline (or died): drain, then exit."""
    async with trio.lowlevel.FdStream(fd) as stream:
        while await stream.receive_some(4096):
            pass
    actors.send(listener, ("$stop", None))
