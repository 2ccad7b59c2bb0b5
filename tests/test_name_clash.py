"""The import name `websocket` is websocket-client's too (selenium's
dependency): installed after us, its package is the `websocket` Python
imports. Where we load ours (the shorthand `ws_loop=` through its entry
point, the command line's --ws flags, the observer) we say so in one line
that names websocket-client and the fix, never an AttributeError from deep
in a start. Here a stand-in for websocket-client's package comes first on
PYTHONPATH, in a real OS process; nothing is installed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import trio

from tests.http_helpers import ROOT, fetch, listening

STAND_IN = '''"""A stand-in for websocket-client's top-level package."""


class WebSocketApp:
    pass
'''


@pytest.fixture
def shadowing(tmp_path: Path) -> dict[str, str]:
    """An environment in which `import websocket` finds the stand-in."""
    package = tmp_path / "other" / "websocket"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(STAND_IN)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path / "other"), str(ROOT)])  # ROOT: tests.*
    return env


def assert_says_it(text: str, tmp_path: Path) -> None:
    """One line that names the module found, websocket-client and the fix."""
    assert str(tmp_path / "other" / "websocket" / "__init__.py") in text
    assert "not trio-misultin's" in text
    assert "websocket-client, selenium's dependency" in text
    assert "fix: pip uninstall websocket-client" in text
    assert "AttributeError" not in text


def run(argv: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *argv], cwd=cwd, env=env, capture_output=True, text=True, timeout=60
    )


START = """
import actors, httpserver, httpserver.lowlevel
from tests.cli_app import which_process

async def handle_ws(ws):
    pass

async def main():
    try:
        httpserver.start(ip="127.0.0.1", port=0, loop=which_process, ws_loop=handle_ws)
    except httpserver.lowlevel.ShadowedError as exc:
        print(exc)

actors.run(main)
"""


def test_start_with_ws_loop_says_the_websocket_found_is_not_ours(
    shadowing: dict[str, str], tmp_path: Path
) -> None:
    done = run(["-c", START], shadowing, tmp_path)
    assert done.returncode == 0, done.stderr
    assert len(done.stdout.splitlines()) == 1, done.stdout
    assert_says_it(done.stdout, tmp_path)


@pytest.mark.parametrize(
    "flags", [["--ws", "tests.cli_app:which_process"], ["--ws-max-message", "10"]]
)
def test_the_command_line_says_it_in_one_line_with_status_2(
    shadowing: dict[str, str], tmp_path: Path, flags: list[str]
) -> None:
    argv = ["-m", "httpserver", "tests.cli_app:which_process", *flags, "--port", "0"]
    done = run(argv, shadowing, tmp_path)
    assert done.returncode == 2
    assert done.stdout == ""
    (line,) = done.stderr.splitlines()
    assert line.startswith("python -m httpserver: error: the module 'websocket'")
    assert_says_it(line, tmp_path)


def test_importing_the_observer_says_it(shadowing: dict[str, str], tmp_path: Path) -> None:
    done = run(["-c", "import observer"], shadowing, tmp_path)
    assert done.returncode == 1
    last = done.stderr.splitlines()[-1]
    assert last.startswith("httpserver._upgrades.ShadowedError: the module 'websocket'")
    assert_says_it(done.stderr, tmp_path)


async def test_a_server_without_websockets_still_serves_from_the_command_line(
    shadowing: dict[str, str], tmp_path: Path
) -> None:
    argv = [sys.executable, "-u", "-m", "httpserver", "tests.cli_app:which_process"]
    async with listening(argv, cwd=tmp_path, env=shadowing) as runner:
        with trio.fail_after(30):
            response = await fetch(runner.port, "/")
        assert response.status == 200
        assert response.text == str(runner.process.pid)
        assert await runner.ended_by(signal.SIGTERM) == 0, runner.output()
