"""Deploys with real OS processes: SIGTERM / SIGINT drain and exit 0; with
workers=N a dead worker is restarted, the workers die with the main
process, and a worker that cannot start makes `start` raise."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import trio

import httpserver
from tests.cli_helpers import wait_gone
from tests.http_helpers import ROOT, fetch, open_stream, python_argv

pytestmark = pytest.mark.skipif(not hasattr(os, "pidfd_open"), reason="needs Linux pidfds")


@dataclass
class Program:
    process: trio.Process
    port: int
    pid: int
    workers: list[int]
    log: list[str]  # stderr lines so far
    logged: trio.Event  # set (and replaced) at every new stderr line


@asynccontextmanager
async def program(workers: int, *flags: str) -> AsyncIterator[Program]:
    """Run `python -m tests.worker_app --workers N`; yield once it listens."""
    async with trio.open_nursery() as nursery:
        process = await trio.lowlevel.open_process(
            python_argv("-m", "tests.worker_app", "--workers", str(workers), *flags),
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,  # its own process group, as a terminal gives
            preexec_fn=_terminal_signals,
        )
        try:
            assert process.stdout is not None
            assert process.stderr is not None
            with trio.fail_after(30):
                line = b""
                while not line.endswith(b"\n"):
                    more = await process.stdout.receive_some(4096)
                    assert more, "the program ended before it listened"
                    line += more
            first = json.loads(line.split(b"\n")[0])
            children = _children(first["pid"])
            running = Program(process, first["port"], first["pid"], children, [], trio.Event())
            nursery.start_soon(_collect_log, process.stderr, running)
            yield running
        finally:
            if process.returncode is None:
                process.kill()
            with trio.move_on_after(5):
                await process.wait()
            nursery.cancel_scope.cancel()


def _terminal_signals() -> None:
    """SIGINT and SIGHUP as a terminal leaves them: the server keeps an
    ignored one ignored (a background job's SIGINT, nohup's SIGHUP), and a
    test run from such a shell would otherwise hand that on."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGHUP, signal.SIG_DFL)


def _children(pid: int) -> list[int]:
    """The child processes of `pid` (Linux): its workers."""
    found = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [int(child) for child in found]


async def _collect_log(stream: trio.abc.ReceiveStream, running: Program) -> None:
    buffer = b""
    async for data in stream:
        buffer += data
        *lines, buffer = buffer.split(b"\n")
        running.log.extend(line.decode(errors="replace") for line in lines)
        running.logged.set()
        running.logged = trio.Event()


async def pids_serving(port: int, wanted: set[int]) -> set[int]:
    """Ask on new connections until every pid in `wanted` has answered
    (the kernel spreads connections over the processes at random)."""
    seen: set[int] = set()
    while not wanted <= seen:
        seen.add(int((await fetch(port)).text))
    return seen


@pytest.mark.parametrize(
    ("workers", "signum", "group", "flags"),
    [
        (1, signal.SIGINT, False, []),
        (1, signal.SIGTERM, False, ["--probe"]),  # a server came and went before
        (2, signal.SIGTERM, False, []),  # a deploy: SIGTERM to the main process
        (2, signal.SIGINT, True, []),  # Ctrl-C in a terminal: SIGINT to every process
        (1, signal.SIGHUP, False, []),  # a hang-up, with no workers to replace
    ],
)
async def test_a_signal_drains_the_requests_in_flight_then_exits_0(
    workers: int, signum: signal.Signals, group: bool, flags: list[str]
) -> None:
    async with program(workers, *flags) as running:
        with trio.fail_after(30):
            stream = await open_stream(running.port)
            await stream.send_all(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
            received = b""
            while b"first;" not in received:
                received += await stream.receive_some(65536)
            if group:  # the request is in flight
                os.killpg(running.pid, signum)
            else:
                os.kill(running.pid, signum)
            while not received.endswith(b"0\r\n\r\n"):
                more = await stream.receive_some(65536)
                assert more, received
                received += more
            assert await stream.receive_some(65536) == b""  # then closed: no keep-alive
            assert await running.process.wait() == 0
            for worker in running.workers:
                await wait_gone(worker)
        assert received.startswith(b"HTTP/1.1 200 ")
        assert b"6\r\nfirst;\r\n6\r\nsecond\r\n0\r\n\r\n" in received
        assert any("draining" in line for line in running.log)
        assert not [line for line in running.log if "restart" in line]


async def test_a_worker_killed_with_9_is_restarted() -> None:
    async with program(2) as running:
        (old,) = running.workers
        with trio.fail_after(30):
            await pids_serving(running.port, {running.pid, old})
            os.kill(old, signal.SIGKILL)
            while not any("restarted" in line for line in running.log):
                await running.logged.wait()
            restarted = next(line for line in running.log if "restarted" in line)
            new = int(restarted.rsplit(" ", 1)[1])
            assert new != old
            await pids_serving(running.port, {running.pid, new})
        assert any(f"(pid {old}) was killed by signal 9" in line for line in running.log)


async def test_the_workers_end_when_the_main_process_is_killed_with_9() -> None:
    async with program(2) as running:
        (worker,) = running.workers
        with trio.fail_after(30):
            await pids_serving(running.port, {running.pid, worker})
            os.kill(running.pid, signal.SIGKILL)
            await wait_gone(worker)
            with pytest.raises(OSError):
                await fetch(running.port)  # nobody serves the old code


NO_GUARD = """
import actors, httpserver

async def handle_http(req):
    await req.ok("hi")

async def main():
    httpserver.start(ip="127.0.0.1", port=0, loop=handle_http, workers=2)

actors.run(main)
"""

LOOP_UNDER_GUARD = """
import actors, httpserver

async def main():
    httpserver.start(ip="127.0.0.1", port=0, loop=handle_http, workers=2)

if __name__ == "__main__":
    async def handle_http(req):
        await req.ok("hi")

    actors.run(main)
"""

LOCAL_LOOP = """
import actors, httpserver

async def main():
    async def handle_http(req):
        await req.ok("hi")

    httpserver.start(ip="127.0.0.1", port=0, loop=handle_http, workers=2)

if __name__ == "__main__":
    actors.run(main)
"""


@pytest.mark.parametrize(
    ("script", "complaint"),
    [
        (NO_GUARD, 'start the server under `if __name__ == "__main__":`'),
        (LOOP_UNDER_GUARD, "cannot load the server's options (AttributeError"),
        (LOCAL_LOOP, "loop=__main__.main.<locals>.handle_http: workers=2 sends it"),
    ],
)
async def test_a_worker_that_cannot_start_makes_start_raise(
    tmp_path: Path, script: str, complaint: str
) -> None:
    path = tmp_path / "app.py"
    path.write_text(script)
    with trio.fail_after(60):
        done = await trio.run_process(
            [sys.executable, str(path)],
            cwd=tmp_path,
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )
    stderr = done.stderr.decode()
    assert done.returncode == 1, stderr
    last = stderr.strip().splitlines()[-1]
    assert complaint in last, stderr
    if script != LOCAL_LOOP:  # refused by the option check, before any worker
        assert last.startswith("httpserver._workers.WorkerStartError: httpserver worker 1 (pid ")
        assert issubclass(httpserver.WorkerStartError, RuntimeError)


async def test_sighup_replaces_every_worker_under_a_steady_client_dropping_nothing() -> None:
    """A deploy with workers=N: SIGHUP starts new workers on the same
    sockets and drains the old ones, one by one; the main process hands
    its own share over too. A client that goes on meanwhile (300 requests,
    each on a new connection, three at a time) sees no failure, a request
    in flight finishes, and every pid serving afterwards is a new one."""
    async with program(3) as running:
        old = {running.pid, *running.workers}
        answers: list[int] = []
        failures: list[BaseException] = []
        hup_sent = trio.Event()

        sent = [0]

        async def client() -> None:
            while sent[0] < 300:
                sent[0] += 1
                try:
                    answers.append(int((await fetch(running.port)).text))
                except Exception as exc:
                    failures.append(exc)
                if len(answers) >= 60 and not hup_sent.is_set():
                    hup_sent.set()
                    os.kill(running.pid, signal.SIGHUP)

        async def in_flight() -> bytes:
            stream = await open_stream(running.port)
            async with stream:
                await stream.send_all(b"GET /slow HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                received = b""
                while chunk := await stream.receive_some(65536):
                    received += chunk
                return received

        slow: list[bytes] = []
        with trio.fail_after(60):
            async with trio.open_nursery() as nursery:

                async def keep_slow() -> None:
                    slow.append(await in_flight())

                nursery.start_soon(keep_slow)
                for _ in range(3):
                    nursery.start_soon(client)
            while not any("SIGHUP: replaced the workers" in line for line in running.log):
                await running.logged.wait()
            after = [int((await fetch(running.port)).text) for _ in range(30)]
            for pid in old - {running.pid}:
                await wait_gone(pid)  # the old workers drained and ended
        assert failures == [], failures[:3]
        assert len(answers) == 300
        assert not set(after) & old, (after, old)  # only new workers serve
        assert running.process.returncode is None  # the main process goes on
        assert slow[0].startswith(b"HTTP/1.1 200 ")
        assert b"6\r\nfirst;\r\n6\r\nsecond\r\n0\r\n\r\n" in slow[0]
        new = set(_children(running.pid)) - old  # (an old one may not be reaped yet)
        assert len(new) == 3, new  # N workers now: the main process serves no more
        assert not [line for line in running.log if "restarting it" in line]
