"""Running `python -m httpserver ...` as a user runs it, for the tests."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import trio

from httpserver import _cli
from tests.http_helpers import ROOT, _Running, listening, python_argv


def environment(**variables: str) -> dict[str, str]:
    """This process's environment without the node's variables, plus `variables`."""
    env = {k: v for k, v in os.environ.items() if k not in (_cli.CLUSTER_ENV, _cli.COOKIE_ENV)}
    return {**env, **variables}


@asynccontextmanager
async def command_line(*args: str, env: dict[str, str] | None = None) -> AsyncIterator[_Running]:
    """Run `python -m httpserver ARGS --ip 127.0.0.1 --port 0` until it
    prints where it listens; yield it; then SIGTERM it, which drains the
    server, and check that it ended with status 0."""
    argv = python_argv("-m", "httpserver", *args)
    async with listening(argv, env=environment() if env is None else env) as runner:
        yield runner
        assert await runner.ended_by(signal.SIGTERM) == 0, runner.output()


async def run_command_line(
    *args: str, env: dict[str, str] | None = None, timeout: float = 30
) -> subprocess.CompletedProcess[bytes]:
    with trio.fail_after(timeout):
        return await trio.run_process(
            python_argv("-m", "httpserver", *args),
            cwd=ROOT,
            env=environment() if env is None else env,
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )


async def wait_gone(pid: int) -> None:
    """Until process `pid` (not our child) has exited (Linux: a pidfd)."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    try:
        await trio.lowlevel.wait_readable(fd)
    finally:
        os.close(fd)
