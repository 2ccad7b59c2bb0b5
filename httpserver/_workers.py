"""`workers=N`: N OS processes serving one port, supervised as OTP would.

This process binds the port N times with SO_REUSEPORT (the first bind
makes port 0's choice), one socket per slot: slot 0 is its own, each other
one is handed (inherited, `pass_fds`) to a worker process, a fresh
interpreter running `httpserver._worker` with one node and one listener;
the kernel spreads connections over the sockets. This process keeps every
slot's socket open, so a worker that dies or is replaced leaves its
socket's queue waiting for the next one instead of dropping it: SIGHUP
(`replace_all`) starts a new worker on each slot's socket, waits until it
listens, and only then lets the old one drain, one slot after another,
and finally hands this process's own slot to a new worker too. With an
inherited socket (`fd=`) every slot is that one socket. Options travel by
pickle, so `loop` (and `access_log`, `ws_loop`) must be module-level
functions a fresh process can import, and `ssl` must be a dict of file
names.

Each worker holds two pipes to this process:
- the lifeline, which only this process can write: the options come down
  it, and its end (this process closed it, stopped, crashed or was killed
  with -9) tells the worker to drain and exit, so no worker outlives the
  main process and keeps serving old code;
- the status pipe: the worker writes "ready" once it listens, or "error
  ..." saying why it cannot; its end tells this process the worker died.

`start` waits (blocking, as it binds) until every worker listens, so a
worker that cannot start makes `start` raise with the worker's reason. A
worker that dies later is restarted by the listener, with back-off, and
logged (a permanent child, in OTP's words).
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import pickle
import selectors
import socket
import ssl
import struct
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Final

import trio

import actors

from . import _log_lines
from ._metrics import check_workers
from ._options import Options

__all__ = ["WorkerStartError", "Workers", "start_workers"]

logger = logging.getLogger("httpserver")

START_TIMEOUT: Final = 60.0  # a fresh interpreter importing the user's code
_BACKOFF: Final = (0.1, 0.5, 1.0, 2.0, 5.0, 10.0)  # seconds before restart n
_STABLE: Final = 30.0  # a worker that lived this long resets the back-off
_PACKAGE_ROOT: Final = str(Path(__file__).resolve().parent.parent)
_BOOT: Final = (
    f"import sys; sys.path.insert(0, {_PACKAGE_ROOT!r}); "
    "from httpserver._worker import main; main()"
)


class WorkerStartError(RuntimeError):
    """A worker process could not start; the message says why."""


class _Worker:
    """One worker OS process, seen from the main process."""

    __slots__ = ("lifeline", "number", "popen", "retired", "slot", "started", "status")

    def __init__(self, number: int, payload: bytes, slot: socket.socket) -> None:
        self.number = number
        self.slot = slot  # the listening socket it serves (this process keeps it open)
        self.retired = False  # replaced: its end is no crash
        life_read, self.lifeline = os.pipe()
        status_read, status_write = os.pipe()
        self.status = status_read
        fd = slot.fileno()
        argv = [str(life_read), str(status_write), str(number), str(fd)]
        try:
            self.popen = subprocess.Popen(
                [sys.executable, "-c", _BOOT, *argv],
                pass_fds=(life_read, status_write, fd),
            )
        except BaseException:
            os.close(self.lifeline)
            os.close(status_read)
            raise
        finally:
            os.close(life_read)
            os.close(status_write)
        self.started = time.monotonic()
        data = struct.pack("!I", len(payload)) + payload
        with contextlib.suppress(BrokenPipeError):  # it died at once: its status says why
            while data:
                data = data[os.write(self.lifeline, data) :]

    @property
    def pid(self) -> int:
        return self.popen.pid

    def release(self) -> None:
        """Close the lifeline: the worker drains and exits."""
        if self.lifeline >= 0:
            os.close(self.lifeline)
            self.lifeline = -1


def _describe_exit(code: int | None) -> str:
    if code is None:
        return "is running"
    if code < 0:
        return f"was killed by signal {-code}"
    return f"exited with code {code}"


class Workers:
    """The worker processes of one server, and their supervision."""

    def __init__(self, options: Options, slots: list[socket.socket], own: socket.socket) -> None:
        self._payload = _payload(options)
        self.slots = slots  # one listening socket per worker
        self.own = own  # this process's slot, kept for the worker that takes it over
        self.count = len(slots)
        self.stopping = False
        self.all: list[_Worker] = []
        self.retiring: list[_Worker] = []  # replaced, draining
        self.replacing = False
        self.numbers = itertools.count(len(slots) + 1)  # a new worker's number (its node's name)
        settings = actors.lowlevel.cluster_settings()
        self.cluster_name = settings["name"] if settings is not None else None
        self._nursery: trio.Nursery | None = None

    # -- starting: synchronous, in `start` ---------------------------------------

    def start_all(self) -> None:
        """Start every worker and wait until each listens, or raise why not."""
        try:
            self.all = [
                _Worker(n, self._payload, slot) for n, slot in enumerate(self.slots, start=1)
            ]
            self._wait_all_ready()
        except BaseException:
            self.kill_all()
            raise

    def _wait_all_ready(self) -> None:
        pending = {worker.status: worker for worker in self.all}
        lines = dict.fromkeys(pending, b"")
        deadline = time.monotonic() + START_TIMEOUT
        with selectors.DefaultSelector() as selector:
            for fd in pending:
                selector.register(fd, selectors.EVENT_READ)
            while pending:
                left = deadline - time.monotonic()
                ready = [key.fd for key, _ in selector.select(max(left, 0))]
                if not ready:
                    worker = next(iter(pending.values()))
                    raise self._failed(worker, f"did not listen within {START_TIMEOUT:g} s")
                self._read_statuses(ready, pending, lines, selector)

    def _read_statuses(
        self,
        ready: list[int],
        pending: dict[int, _Worker],
        lines: dict[int, bytes],
        selector: selectors.BaseSelector,
    ) -> None:
        for fd in ready:
            data = os.read(fd, 65536)
            lines[fd] += data
            worker = pending[fd]
            if not data:
                code = worker.popen.wait()
                raise self._failed(worker, f"{_describe_exit(code)} before it listened")
            line, found, _ = lines[fd].partition(b"\n")
            if found:
                if line != b"ready":
                    raise self._failed(worker, line.decode(errors="replace"))
                del pending[fd]
                selector.unregister(fd)

    def _failed(self, worker: _Worker, why: str) -> WorkerStartError:
        why = why.removeprefix("error ")
        return WorkerStartError(f"httpserver worker {worker.number} (pid {worker.pid}): {why}")

    def kill_all(self) -> None:
        for worker in self.all:
            worker.release()
            with contextlib.suppress(OSError):
                worker.popen.kill()
                worker.popen.wait()
            with contextlib.suppress(OSError):
                os.close(worker.status)
        self.close_sockets()

    def close_sockets(self) -> None:
        """This process's copies of the slots' sockets (the workers hold
        their own until they drain)."""
        for sock in {id(s): s for s in [*self.slots, self.own]}.values():
            sock.close()

    # -- supervising: in the listener's nursery -------------------------------------

    def supervise_all(self, nursery: trio.Nursery) -> None:
        """Watch every worker, in `nursery` (the listener's)."""
        self._nursery = nursery
        for worker in self.all:
            nursery.start_soon(self.supervise, worker)

    async def supervise(self, worker: _Worker) -> None:
        """Keep `worker`'s slot served: when it dies, log it and start a new
        one on the same socket after a back-off that grows while it keeps
        dying young. A worker retired by `replace_all` just ends."""
        failures = 0
        ready = True
        while True:
            if ready:
                await _wait_closed(worker.status)
            code = await trio.to_thread.run_sync(worker.popen.wait, abandon_on_cancel=True)
            worker.release()
            if worker.retired:
                with contextlib.suppress(ValueError):
                    self.retiring.remove(worker)
                return
            if self.stopping:
                return
            lived = time.monotonic() - worker.started
            failures = 0 if lived >= _STABLE else failures + 1
            delay = _BACKOFF[min(failures, len(_BACKOFF) - 1)]
            logger.error(
                "httpserver worker %d (pid %d) %s after %.1f s; restarting it in %g s",
                worker.number,
                worker.pid,
                _describe_exit(code),
                lived,
                delay,
            )
            await trio.sleep(delay)
            if self.is_stopping() or worker not in self.all:  # (stopping: mypy's flag)
                return
            index = self.all.index(worker)
            worker = _Worker(worker.number, self._payload, worker.slot)
            self.all[index] = worker
            os.set_blocking(worker.status, False)
            why = await _wait_ready(worker.status)
            ready = why is None
            if ready:
                logger.warning("httpserver worker %d restarted: pid %d", worker.number, worker.pid)
            else:
                logger.error("httpserver worker %d could not restart: %s", worker.number, why)
                os.close(worker.status)
                with contextlib.suppress(OSError):
                    worker.popen.kill()

    async def replace_all(self, own: bool) -> bool:
        """SIGHUP: for each worker, start a new one on its socket, and once
        it listens, let the old one drain (one slot after another, so the
        port never has fewer workers serving); with `own`, then a new
        worker for this process's own slot too. False (logged) if a new
        worker could not start: the ones not yet replaced go on."""
        if self.replacing or self.stopping:
            logger.warning("SIGHUP: a replacement of the workers is already under way")
            return False
        self.replacing = True
        try:
            old_pids = self.pids
            for index, old in enumerate(list(self.all)):
                new = await self._start_ready(old.slot)
                if new is None:
                    return False
                self.all[index] = new
                old.retired = True
                self.retiring.append(old)
                old.release()  # it drains: its open requests finish
            if own:
                new = await self._start_ready(self.own)
                if new is None:
                    return False
                self.all.append(new)
            logger.warning("SIGHUP: replaced the workers %s with %s", old_pids, self.pids)
            return True
        finally:
            self.replacing = False

    async def _start_ready(self, slot: socket.socket) -> _Worker | None:
        """A new worker on `slot`, supervised, once it listens; None (logged)
        if it could not start."""
        worker = _Worker(next(self.numbers), self._payload, slot)
        os.set_blocking(worker.status, False)
        why = await _wait_ready(worker.status)
        if why is not None:
            logger.error(
                "SIGHUP: a new worker could not start, the old ones go on serving: %s", why
            )
            os.close(worker.status)
            with contextlib.suppress(OSError):
                worker.popen.kill()
            worker.release()
            return None
        if self.is_stopping():
            worker.release()
        assert self._nursery is not None
        self._nursery.start_soon(self.supervise, worker)
        return worker

    async def stop(self, grace: float) -> None:
        """Drain the workers: each finishes its requests (within `grace`) and
        exits; one still there a second after that is killed."""
        self.stopping = True
        self.close_sockets()
        every = [*self.all, *self.retiring]
        for worker in every:
            worker.release()
        with trio.move_on_after(grace + 1.0):
            for worker in every:
                await trio.to_thread.run_sync(worker.popen.wait, abandon_on_cancel=True)
        for worker in every:
            if worker.popen.poll() is None:
                logger.error("httpserver worker %d did not drain in time: killed", worker.number)
                worker.popen.kill()

    def abandon(self) -> None:
        """The listener is ending without a drain: release every worker (each
        drains on its own and exits)."""
        self.stopping = True
        for worker in [*self.all, *self.retiring]:
            worker.release()
        self.close_sockets()

    def node_names(self) -> list[str]:
        """The workers' node names, in a cluster (the metrics ask them)."""
        if self.cluster_name is None:
            return []
        return [f"{self.cluster_name}.w{worker.number}" for worker in self.all]

    def is_stopping(self) -> bool:
        return self.stopping

    @property
    def pids(self) -> list[int]:
        return [worker.pid for worker in self.all]


async def _wait_closed(fd: int) -> None:
    """Until the worker's end of the status pipe closes (it died)."""
    async with trio.lowlevel.FdStream(fd) as stream:
        while await stream.receive_some(4096):
            pass


async def _wait_ready(fd: int) -> str | None:
    """None once a new worker says "ready"; else why it did not. The status
    pipe stays open (its end is how the death of this worker is seen)."""
    line = b""
    with trio.move_on_after(START_TIMEOUT):
        while b"\n" not in line:
            await trio.lowlevel.wait_readable(fd)
            data = os.read(fd, 65536)
            if not data:
                return "it died before it listened"
            line += data
        text = line.partition(b"\n")[0].decode(errors="replace")
        return None if text == "ready" else text.removeprefix("error ")
    return f"it did not listen within {START_TIMEOUT:g} s"


def _payload(options: Options) -> bytes:
    """What a worker needs, pickled: the options, and where to find the code
    they name (sys.path, and the main module, as multiprocessing's "spawn"
    re-imports it under the name __mp_main__)."""
    try:
        pickled = pickle.dumps(options)
    except Exception as exc:
        raise TypeError(
            f"workers > 1 sends the options to other processes by pickle, and they do not"
            f" pickle ({exc}): loop, ws_loop and access_log must be module-level functions"
        ) from exc
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    if spec is not None and spec.name:
        where: tuple[str, str] | None = ("name", spec.name)
    elif getattr(main, "__file__", None):
        where = ("path", os.path.abspath(str(main.__file__)))  # type: ignore[union-attr]
    else:
        where = None  # an interactive session: nothing to re-import
    return pickle.dumps(
        {
            "sys_path": list(sys.path),
            "argv": list(sys.argv),
            "main": where,
            "options": pickled,
            # In a cluster, each worker is a node of it too: rooms, global
            # names and broadcasts then span the workers.
            "cluster": actors.lowlevel.cluster_settings(),
            # The levels the command line's --log-level (or the program) set.
            "log_levels": {
                name: logging.getLogger(name).level for name in actors.lowlevel.logger_names()
            },
            # The command line's access log and log format.
            "log_lines": _log_lines.settings(),
        }
    )


def start_workers(options: Options, link: bool) -> actors.Pid:
    """Bind, start N-1 workers and wait until they listen, then spawn this
    process's listener, which supervises them."""
    from ._listener import bind, spawn_listener

    if isinstance(options.ssl, ssl.SSLContext):
        raise TypeError("workers > 1 needs ssl given as a dict of file names, not an SSLContext")
    if not actors.lowlevel.in_cluster():
        logger.warning(
            "workers=%d without a cluster: process groups, names, broadcasts and"
            " sessions stay per worker (join a cluster to share them)",
            options.workers,
        )
    if options.metrics is not None:
        check_workers(options.workers, actors.lowlevel.in_cluster())
    sockets = bind(options)
    slots: list[socket.socket] = []
    try:
        chosen = replace(options, port=sockets[0].getsockname()[1], name=None, metrics=None)
        if options.fd is not None:  # one inherited socket: every worker shares it
            own = sockets[0].dup()
            slots = [own] * (options.workers - 1)
        else:
            slots = [bind(chosen)[0] for _ in range(options.workers - 1)]
            own = sockets[0].dup()  # for the worker SIGHUP hands this process's slot to
        workers = Workers(chosen, slots, own)
        workers.start_all()
    except BaseException:
        for sock in [*sockets, *slots]:
            sock.close()
        raise
    return spawn_listener(options, sockets, link, workers)
