"""The install a user gets from the README (`pip install -e .`), as a type
checker and pip see it: mypy, run on a user's file outside the clone, finds
the packages and flags a wrong type (setuptools' editable install was an
import hook mypy could not follow); `start`'s typed options (`StartOptions`)
and websocket's (`ProtocolOptions`) name exactly the options their tables
check, and accept every default; the wheel holds the four packages, their
py.typed, the observer's page, the console script and the entry point."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import httpserver
import websocket
from httpserver import _options
from tests.http_helpers import ROOT
from websocket import _options as ws_options

WRONG = "# wrong"

USER_FILE = f'''
"""A user's program: three lines marked wrong, which mypy must flag, and no other."""

import actors
import httpserver
import websocket


async def handle_http(req: httpserver.Req) -> None:
    await req.ok("hello")


async def handle_ws(ws: websocket.Ws) -> None:
    ws.send("hi")


async def main() -> None:
    server: actors.Pid = httpserver.start_link(port=8080, loop=handle_http, ws_loop=handle_ws)
    httpserver.start(port="8080", loop=handle_http)  {WRONG}: a str port
    httpserver.start(prot=8080, loop=handle_http)  {WRONG}: no such option
    httpserver.start(loop=handle_http, ws_max_message="1 MiB")  {WRONG}: not an int
    websocket.protocol(handle_ws, ws_compress="yes")  {WRONG}: not a bool
    count: int = actors.self()  {WRONG}: a Pid
    await httpserver.stop(server)


actors.run(main)
'''


def every_default_file() -> str:
    """`start` and `protocol` called with every option of the tables at its
    default: the types must accept what the server itself starts with."""
    server = ", ".join(f"{name}={default!r}" for name, default, *_ in _options._TABLE)
    server += ", " + ", ".join(f"{name}={default!r}" for name, default, *_ in ws_options.TABLE)
    ws = ", ".join(f"{name}={default!r}" for name, default, *_ in ws_options.TABLE)
    return (
        "import httpserver\nimport websocket\n\n"
        f"httpserver.start({server})\n"
        f"httpserver.start_link({server})\n"
        f"websocket.protocol(None, {ws})\n"
    )


def run_mypy(where: Path, *files: str) -> subprocess.CompletedProcess[str]:
    """mypy as a user runs it: from their own directory, in the environment
    the package was installed into, with nothing of the clone on its path."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "MYPYPATH")}
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--cache-dir", str(where / ".cache"), *files],
        cwd=where,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_mypy_finds_the_installed_packages_and_flags_the_wrong_types(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(USER_FILE)
    (tmp_path / "defaults.py").write_text(every_default_file())
    done = run_mypy(tmp_path, "app.py", "defaults.py")
    output = done.stdout + done.stderr
    assert "Cannot find implementation or library stub" not in output, output
    flagged = {int(n) for n in re.findall(r"^app\.py:(\d+): error", done.stdout, re.M)}
    marked = {n for n, line in enumerate(USER_FILE.splitlines(), 1) if WRONG in line}
    assert len(marked) == 5
    assert flagged == marked, output
    assert not re.search(r"^defaults\.py:\d+: error", done.stdout, re.M), output
    assert 'Argument "port" to "start" has incompatible type "str"' in output
    assert 'Unexpected keyword argument "prot"' in output


def test_the_typed_options_are_the_options_the_tables_check() -> None:
    typed = httpserver.StartOptions.__optional_keys__
    assert not httpserver.StartOptions.__required_keys__
    server = [row[0] for row in _options._TABLE]
    ws = [row[0] for row in ws_options.TABLE]
    assert sorted(typed) == sorted(server + ws)
    assert websocket.ProtocolOptions.__optional_keys__ == frozenset(ws)
    assert list(websocket.ProtocolOptions.__annotations__) == ws
    # the shorthand's keys have the types websocket's own declare (the
    # handler apart: httpserver names no websocket.Ws)
    declared = {k: v.__forward_arg__ for k, v in httpserver.StartOptions.__annotations__.items()}
    mine = {k: v.__forward_arg__ for k, v in websocket.ProtocolOptions.__annotations__.items()}
    assert {k: declared[k] for k in ws if k != "ws_loop"} == {
        k: v for k, v in mine.items() if k != "ws_loop"
    }


def test_the_wheel_holds_the_packages_their_data_the_script_and_the_entry_point(
    tmp_path: Path,
) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
         "-w", str(tmp_path), str(ROOT)],
        check=True,
        capture_output=True,
        timeout=300,
    )  # fmt: skip
    (wheel,) = tmp_path.glob("trio_misultin-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for package in ("actors", "httpserver", "websocket", "observer"):
        assert f"{package}/__init__.py" in names
        assert f"{package}/py.typed" in names
    for page in ("index.html", "observer.css", "observer.js"):
        assert f"observer/static/{page}" in names
    assert {name.split("/")[0] for name in names} == {
        "actors", "httpserver", "websocket", "observer", wheel.name.split("-py3")[0] + ".dist-info",
    }  # fmt: skip
    info = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    points = zipfile.ZipFile(wheel).read(info).decode()
    assert "trio-misultin = httpserver._cli:main" in points
    assert "[trio_misultin.upgrades]\nwebsocket = websocket:protocol" in points
