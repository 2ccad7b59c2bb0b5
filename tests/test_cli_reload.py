"""`python -m httpserver MODULE:FUNCTION --reload`, run as a developer runs
it: a real OS process that restarts its server when a .py file changes, on
the same port, survives a syntax error and serves the fix."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import h11
import trio

from tests.cli_helpers import environment, run_command_line, wait_gone
from tests.http_helpers import _Running, fetch, listening

APP = """
import os

async def handle_http(req):
    await req.ok("{text} " + str(os.getpid()), headers={{"Connection": "close"}})
"""


def write_app(directory: Path, text: str) -> None:
    (directory / "app.py").write_text(APP.format(text=text))


@asynccontextmanager
async def reloading(directory: Path, *flags: str) -> AsyncIterator[_Running]:
    """`python -m httpserver app:handle_http --reload` in `directory`; yield
    it once it listens; SIGTERM it after, which stops its server, and
    check that it ends with status 0."""
    argv = [sys.executable, "-u", "-m", "httpserver", "app:handle_http", "--reload", *flags]
    async with listening(argv, cwd=directory, env=environment()) as runner:
        yield runner
        if runner.process.returncode is None:
            assert await runner.ended_by(signal.SIGTERM, timeout=20) == 0, runner.output()


async def served(port: int, text: str, within: float = 5.0) -> set[str]:
    """Fetch until the answer starts with `text` (the new code), within
    `within` seconds of the edit; the pids that answered so."""
    with trio.fail_after(within):
        while True:
            try:
                answer = (await fetch(port)).text
            except (OSError, trio.BrokenResourceError, h11.RemoteProtocolError):
                continue  # the old server closed this connection as it stopped
            if answer.startswith(text + " "):
                return {answer.split()[1]}


async def test_an_edit_is_served_within_5_s_a_syntax_error_survives_and_the_fix_serves(
    tmp_path: Path,
) -> None:
    write_app(tmp_path, "one")
    async with reloading(tmp_path) as server:
        assert (await fetch(server.port)).text.startswith("one ")
        assert "reload: watching " in server.output()

        write_app(tmp_path, "two")
        await served(server.port, "two")
        await server.wait_for("reload: app.py changed; restarting the server")

        (tmp_path / "app.py").write_text("async def handle_http(req:\n    pass\n")
        output = await server.wait_for("it starts again when a watched file changes")
        assert "cannot import 'app': SyntaxError: " in output
        assert 'app.py", line 1: async def handle_http(req:' in output
        assert "reload: the server exited with status 2" in output
        assert "Traceback" not in output
        assert server.process.returncode is None  # the watcher is alive

        write_app(tmp_path, "three")
        await served(server.port, "three")
    ports = {
        line.split(":")[-1].rstrip("/")
        for line in server.output().splitlines()
        if line.startswith("listening on ")
    }
    assert len(ports) == 1, server.output()  # one socket, kept across the restarts


async def test_reload_with_workers_serves_the_edit_from_every_worker(tmp_path: Path) -> None:
    write_app(tmp_path, "one")
    async with reloading(tmp_path, "--workers", "2") as server:
        pids: set[str] = set()
        with trio.fail_after(20):
            while len(pids) < 2:  # the kernel hands the connections to either worker
                pids.add((await fetch(server.port)).text.split()[1])
        write_app(tmp_path, "two")
        await served(server.port, "two", within=10.0)
        new_pids: set[str] = set()
        with trio.fail_after(20):
            while len(new_pids) < 2:
                answer = (await fetch(server.port)).text
                assert answer.startswith("two "), answer  # no worker serves the old code
                new_pids.add(answer.split()[1])
        assert not new_pids & pids


async def test_reload_without_watchfiles_names_the_extra(tmp_path: Path) -> None:
    (tmp_path / "sitecustomize.py").write_text(
        'import sys\nsys.modules["watchfiles"] = None  # as if it were not installed\n'
    )
    path = os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")]))
    done = await run_command_line(
        "examples.hello_world:handle_http",
        "--reload",
        "--port",
        "0",
        env=environment(PYTHONPATH=path),
        timeout=15,
    )
    lines = done.stderr.decode().splitlines()
    assert done.returncode == 2, lines
    assert len(lines) == 1, lines
    assert "--reload needs watchfiles" in lines[0]
    assert "pip install 'trio-misultin[reload]'" in lines[0]


async def test_reload_checks_the_flags_before_it_starts(tmp_path: Path) -> None:
    done = await run_command_line("app:handle_http", "--reload", "--port", "70000", timeout=15)
    lines = done.stderr.decode().splitlines()
    assert done.returncode == 2, lines
    assert lines == [
        "python -m httpserver: error: bad server option port=70000: it must be an int from 0"
        " to 65535 (0 picks a free port)"
    ]


async def test_the_server_ends_with_its_watcher_even_killed_with_9(tmp_path: Path) -> None:
    write_app(tmp_path, "one")
    async with reloading(tmp_path) as server:
        child = int((await fetch(server.port)).text.split()[1])
        assert child != server.process.pid
        server.process.kill()  # SIGKILL: the watcher cannot tell its child
        await server.process.wait()
        with trio.fail_after(15):
            await wait_gone(child)  # it saw its lifeline close, drained, and ended
