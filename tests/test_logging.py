"""What a user reads on stderr: reports with time, level and logger name
when the program has not configured logging (and nothing of ours when it
has), one block per report, and one line, not a traceback, on Ctrl-C."""

from __future__ import annotations

import re
import signal
import subprocess
import sys

import trio

from tests.http_helpers import ROOT

# As in a terminal: SIGINT raises KeyboardInterrupt (a test runner started
# in the background may hand its children an ignored SIGINT).
SIGINT_AS_IN_A_TERMINAL = (
    "import signal; signal.signal(signal.SIGINT, signal.default_int_handler)\n"
)

WAITS = (
    SIGINT_AS_IN_A_TERMINAL
    + """
import actors

async def main():
    print("ready", flush=True)
    await actors.receive()

actors.run(main)
"""
)

CRASHES = """
import logging
{setup}
import actors
from actors import Supervisor, child

async def crasher():
    raise ValueError("on purpose")

async def main():
    sup = await Supervisor.start([child(crasher, id="crasher")], intensity=0)
    ref = actors.monitor(sup)
    await actors.receive(actors.Down(ref, sup, actors.ANY), timeout=5)
    {after}

actors.run(main)
"""

STAMP = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}"


async def run_program(code: str) -> str:
    with trio.fail_after(30):
        done = await trio.run_process(
            [sys.executable, "-c", code], cwd=ROOT, capture_stdout=True, capture_stderr=True
        )
    return done.stderr.decode()


async def test_ctrl_c_ends_actors_run_with_one_line_and_status_130() -> None:
    process = await trio.lowlevel.open_process(
        [sys.executable, "-c", WAITS], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert process.stdout is not None
    assert process.stderr is not None
    try:
        with trio.fail_after(30):
            line = b""
            while not line.endswith(b"\n"):
                chunk = await process.stdout.receive_some(64)
                assert chunk, "the program ended before it was ready"
                line += chunk
            process.send_signal(signal.SIGINT)
            stderr = b""
            while chunk := await process.stderr.receive_some(65536):
                stderr += chunk
            assert await process.wait() == 130  # 128 + SIGINT, as a shell reports it
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    lines = stderr.decode().splitlines()
    assert len(lines) == 1, stderr.decode()
    assert re.fullmatch(
        f"{STAMP} WARNING actors: stopped: interrupted by Ctrl-C \\(SIGINT\\)", lines[0]
    )


async def test_reports_carry_time_level_and_logger_when_logging_is_not_configured() -> None:
    stderr = await run_program(CRASHES.format(setup="", after=""))
    starts = [line for line in stderr.splitlines() if re.match(STAMP, line)]
    # one crash report (its traceback under it, unstamped), then the supervisor's
    assert len(starts) == 2, stderr
    assert re.match(
        f"{STAMP} ERROR actors: crash report: process <0\\.\\d+\\.0> running __main__\\.crasher ",
        starts[0],
    )
    assert re.match(f"{STAMP} ERROR actors: supervisor report: ", starts[1])
    block = stderr.split(starts[1])[0]
    assert "Traceback (most recent call last):" in block
    assert block.rstrip().endswith("ValueError: on purpose")


async def test_a_program_that_configured_logging_keeps_its_own_format() -> None:
    setup = 'logging.basicConfig(format="APP %(levelname)s %(name)s %(message)s")'
    stderr = await run_program(CRASHES.format(setup=setup, after=""))
    assert stderr.count("APP ERROR actors crash report") == 1, stderr
    assert stderr.count("APP ERROR actors supervisor report") == 1, stderr
    assert not re.search(STAMP, stderr), stderr
    assert logging_root_untouched_in_a_fresh_run()


def logging_root_untouched_in_a_fresh_run() -> bool:
    """`run` puts its handler on our loggers, never on the root logger."""
    code = (
        "import logging, actors\n"
        "async def main(): pass\n"
        "actors.run(main)\n"
        "assert logging.getLogger().handlers == []\n"
        "assert logging.getLogger('actors').handlers\n"
        "import httpserver\n"
        "assert logging.getLogger('httpserver').handlers\n"
    )
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=False).returncode == 0


async def test_a_handler_on_our_logger_means_logging_is_configured() -> None:
    setup = (
        "handler = logging.StreamHandler()\n"
        'handler.setFormatter(logging.Formatter("MINE %(name)s %(message)s"))\n'
        'logging.getLogger("actors").addHandler(handler)'
    )
    stderr = await run_program(CRASHES.format(setup=setup, after=""))
    assert stderr.count("MINE actors crash report") == 1, stderr
    assert not re.search(STAMP, stderr), stderr


async def test_logging_configured_after_run_started_gets_each_report_once() -> None:
    after = 'logging.basicConfig(format="LATE %(name)s %(message)s")\n'
    after += "    logging.getLogger('actors').error('after basicConfig')"
    stderr = await run_program(CRASHES.format(setup="", after=after))
    assert stderr.count("after basicConfig") == 1, stderr
    assert "LATE actors after basicConfig" in stderr


DRAINS = """
import trio
import actors

async def worker():
    try:
        await actors.receive()
    finally:
        with trio.CancelScope(shield=True):
            await trio.sleep(0.2)  # a drain that takes a while
        print("worker drained", flush=True)

async def main():
    actors.spawn(worker)
    try:
        print("ready", flush=True)
        await actors.receive()
    finally:
        print("main drained", flush=True)

actors.run(main)
print("after run: not reached", flush=True)
"""


async def test_sigterm_ends_actors_run_as_ctrl_c_does_with_one_line_and_status_0() -> None:
    """A deploy's stop: each process unwinds (its `finally` runs), the log
    says so in one line, and the program exits 0; not 143 in silence."""
    process = await trio.lowlevel.open_process(
        [sys.executable, "-c", DRAINS], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert process.stdout is not None
    assert process.stderr is not None
    try:
        with trio.fail_after(30):
            stdout = b""
            while b"ready\n" not in stdout:
                chunk = await process.stdout.receive_some(64)
                assert chunk, "the program ended before it was ready"
                stdout += chunk
            process.send_signal(signal.SIGTERM)
            while chunk := await process.stdout.receive_some(65536):
                stdout += chunk
            stderr = b""
            while chunk := await process.stderr.receive_some(65536):
                stderr += chunk
            assert await process.wait() == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert stdout.decode().splitlines() == ["ready", "main drained", "worker drained"]
    lines = stderr.decode().splitlines()
    assert len(lines) == 1, stderr.decode()
    assert re.fullmatch(f"{STAMP} WARNING actors: stopped: terminated \\(SIGTERM\\)", lines[0])


async def test_a_program_with_its_own_sigterm_handler_keeps_it() -> None:
    code = (
        "import os, signal, actors\n"
        "signal.signal(signal.SIGTERM, lambda *_: print('mine', flush=True))\n"
        "async def main():\n"
        "    os.kill(os.getpid(), signal.SIGTERM)\n"
        "actors.run(main)\n"
        "assert signal.getsignal(signal.SIGTERM).__name__ == '<lambda>'\n"
        "print('after run', flush=True)\n"
    )
    with trio.fail_after(30):
        done = await trio.run_process(
            [sys.executable, "-c", code], cwd=ROOT, capture_stdout=True, capture_stderr=True
        )
    assert done.stdout.decode().splitlines() == ["mine", "after run"], done.stderr.decode()
    assert done.stderr == b""
