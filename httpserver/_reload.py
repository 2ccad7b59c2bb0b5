"""`--reload`: serve, and restart the server when a source file changes.

For development, as uvicorn's `--reload` and Phoenix's code reloader: this
process imports none of the user's code. It binds the port once and runs
the server as a child process (`python -m httpserver ... --fd N`, the
socket inherited), watches the source directories with watchfiles (whose
`awatch` runs on trio through anyio), and when a .py file changes it stops
the child (SIGTERM: it drains) and starts another on the same socket, so a
client meanwhile waits in the socket's queue instead of being refused.

The child holds the read end of a pipe only this process writes to (its
number in $TRIO_MISULTIN_LIFELINE): when this process ends, however (kill
-9 included), the child sees the pipe close and stops as on SIGTERM, so no
server outlives its watcher and serves old code on its own.

A child that cannot start (a syntax error just saved) has said why in its
own lines; this process says in one more that it waits for the next change,
and the fix serves again. SIGTERM or Ctrl-C stops the child, then this.
`--workers N` works too: the child's workers share the inherited socket.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

import trio

from ._listener import bind
from ._node_flags import node_settings
from ._options import Options

__all__ = ["LIFELINE_ENV", "reload_main", "watch_lifeline"]

LIFELINE_ENV: Final = "TRIO_MISULTIN_LIFELINE"

_PREFIX: Final = "reload:"
_STOP_GRACE: Final = 10.0  # a child that has not drained by then is killed
_OWN_FLAGS: Final = ("--reload",)
_OWN_VALUED: Final = ("--reload-dir",)


def reload_main(cli: argparse.ArgumentParser, argv: Sequence[str]) -> int:
    """Check the flags (without importing the handlers), bind, then run
    and rerun the server until a signal; the exit status."""
    args = vars(cli.parse_args(argv))
    try:
        import watchfiles  # noqa: F401
    except ImportError:
        cli.error(
            "--reload needs watchfiles, which is not installed: pip install 'trio-misultin[reload]'"
        )
    node_settings(cli, args)  # checked here, used by the child
    dirs = [Path(d).resolve() for d in args.pop("reload_dir", None) or [os.getcwd()]]
    for directory in dirs:
        if not directory.is_dir():
            cli.error(f"--reload-dir {directory}: no such directory")
    options = _options(cli, args)
    child_argv = [sys.executable, "-m", "httpserver", *_without_own_flags(argv)]
    sock = None
    if options.fd is None:
        try:
            (sock,) = bind(options)
        except OSError as exc:
            print(f"{cli.prog}: error: {exc}", file=sys.stderr)
            return 1
        sock.set_inheritable(True)
        child_argv += ["--fd", str(sock.fileno())]
    fd = sock.fileno() if sock is not None else options.fd
    assert fd is not None
    try:
        return trio.run(_run, child_argv, fd, dirs)
    finally:
        if sock is not None:
            sock.close()


def _options(cli: argparse.ArgumentParser, args: dict[str, Any]) -> Options:
    """The server options, checked as the child will check them, with the
    handlers (MODULE:FUNCTION text here) stood in for."""
    args.pop("log_level", None)
    args.pop("log_format", None)
    args.pop("reload", None)
    args.pop("interface", None)
    checked = dict(args, loop=stand_in)
    for name in ("ws_loop", "access_log"):
        if checked.get(name) is not None:
            checked[name] = stand_in
    try:
        return Options.of(checked)
    except (TypeError, ValueError) as exc:
        cli.error(str(exc))


async def stand_in(req: Any) -> None:
    """What the checks of `_options` take for a handler not imported here."""


def _without_own_flags(argv: Sequence[str]) -> list[str]:
    out: list[str] = []
    skip = False
    for word in argv:
        if skip:
            skip = False
        elif word in _OWN_FLAGS or ("=" in word and word.partition("=")[0] in _OWN_VALUED):
            pass
        elif word in _OWN_VALUED:
            skip = True
        else:
            out.append(word)
    return out


def _say(text: str) -> None:
    print(f"{_PREFIX} {text}", file=sys.stderr, flush=True)


def watch_lifeline() -> None:
    """In the child: if the watcher gave a lifeline, stop as on SIGTERM
    when it closes (the watcher ended)."""
    given = os.environ.pop(LIFELINE_ENV, None)
    if given is None:
        return
    fd = int(given)

    def wait() -> None:
        with contextlib.suppress(OSError):
            while os.read(fd, 1024):
                pass
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=wait, name="reload lifeline", daemon=True).start()


async def _run(argv: list[str], fd: int, dirs: list[Path]) -> int:
    send, events = trio.open_memory_channel[tuple[str, Any]](64)
    life_read, life_write = os.pipe()  # the children's lifeline: only this process writes
    env = {
        **os.environ,
        "PYTHONDONTWRITEBYTECODE": "1",  # no stale .pyc from an edit
        LIFELINE_ENV: str(life_read),
    }
    try:
        return await _watch_and_serve(argv, (fd, life_read), env, dirs, send, events)
    finally:
        os.close(life_read)
        os.close(life_write)


async def _watch_and_serve(
    argv: list[str],
    fds: tuple[int, int],
    env: dict[str, str],
    dirs: list[Path],
    send: trio.MemorySendChannel[tuple[str, Any]],
    events: trio.MemoryReceiveChannel[tuple[str, Any]],
) -> int:
    shown = ", ".join(str(d) for d in dirs)
    _say(f"watching {shown} for changes to .py files")
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_watch, dirs, send.clone())
            nursery.start_soon(_forward_signals, signals, send.clone())
            status = await _serve_until_signal(argv, fds, env, events, send, nursery)
            nursery.cancel_scope.cancel()
    return status


async def _serve_until_signal(
    argv: list[str],
    fds: tuple[int, int],
    env: dict[str, str],
    events: trio.MemoryReceiveChannel[tuple[str, Any]],
    send: trio.MemorySendChannel[tuple[str, Any]],
    nursery: trio.Nursery,
) -> int:
    while True:
        child = await trio.lowlevel.open_process(argv, env=env, pass_fds=fds)
        nursery.start_soon(_wait_exit, child, send.clone())
        running = True
        while True:
            kind, value = await events.receive()
            if kind == "signal":
                if running:
                    await _stop(child)
                return 0
            if kind == "exited" and value[0] is child:
                running = False
                if value[1] != 0:
                    _say(
                        f"the server exited with status {value[1]}; it starts again when a"
                        " watched file changes"
                    )
                continue
            if kind == "changed":
                _say(f"{value} changed; restarting the server")
                if running:
                    await _stop(child)
                break


async def _stop(child: trio.Process) -> None:
    """SIGTERM (the child drains), then SIGKILL if it takes too long."""
    if child.returncode is None:
        child.send_signal(signal.SIGTERM)
    with trio.move_on_after(_STOP_GRACE):
        await child.wait()
        return
    child.kill()
    await child.wait()


async def _wait_exit(child: trio.Process, send: trio.MemorySendChannel[tuple[str, Any]]) -> None:
    async with send:
        code = await child.wait()
        await send.send(("exited", (child, code)))


async def _forward_signals(signals: Any, send: trio.MemorySendChannel[tuple[str, Any]]) -> None:
    async with send:
        async for signum in signals:
            await send.send(("signal", signum))


async def _watch(dirs: list[Path], send: trio.MemorySendChannel[tuple[str, Any]]) -> None:
    from watchfiles import PythonFilter, awatch

    async with send:
        async for changes in awatch(*dirs, watch_filter=PythonFilter()):
            paths = sorted({Path(path).name for _, path in changes})
            await send.send(("changed", ", ".join(paths)))
