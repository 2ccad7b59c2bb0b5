"""FastAPI and Starlette apps under `python -m httpserver`, run as a user runs
them (real OS processes, real sockets), and beside uvicorn on the same
module: request by request, the status, the headers that matter and the
body agree, and so do the http scope's keys. Each test runs on both request
parsers (uvicorn then on the same one)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import trio

from tests.cli_helpers import command_line
from tests.conftest import _free_port
from tests.http_helpers import ROOT, Response, _Running, fetch, python_argv
from tests.ws_helpers import PROTOCOLS, Closed, open_ws

# What a client acts on; Server and Date differ by design.
HEADERS_THAT_MATTER = ("content-type", "content-length", "transfer-encoding", "location")

FASTAPI_REQUESTS: list[tuple[str, str, list[tuple[str, str]], bytes]] = [
    ("GET", "/items/5?q=somequery", [], b""),
    ("GET", "/items/5", [], b""),
    ("GET", "/items/not-a-number", [], b""),  # 422
    ("POST", "/items", [("Content-Type", "application/json")], b'{"name": "a", "price": 2.5}'),
    ("POST", "/items", [("Content-Type", "application/json")], b'{"name": "b"}'),  # 422
    ("POST", "/items", [("Content-Type", "application/json")], b"{not json"),  # 422
    ("GET", "/done", [], b""),  # the background task of the first POST ran
    ("GET", "/stream", [], b""),
    ("GET", "/nowhere", [], b""),  # 404
    ("DELETE", "/items/5", [], b""),  # 405
    ("HEAD", "/items/7", [], b""),
]
STARLETTE_REQUESTS: list[tuple[str, str, list[tuple[str, str]], bytes]] = [
    ("GET", "/users/ada?greeting=hi", [], b""),
    ("GET", "/done", [], b""),
    ("GET", "/stream", [], b""),
    ("POST", "/upload", [], b"x" * 100_000),
    ("GET", "/upload", [], b""),  # 405
]


@asynccontextmanager
async def uvicorn(app: str, http: str) -> AsyncIterator[int]:
    """uvicorn serving APP on a free port, once it says it runs."""
    port = _free_port()
    argv = [sys.executable, "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", str(port)]
    argv += ["--http", http, "--log-level", "info", "--lifespan", "on"]
    process = await trio.lowlevel.open_process(
        argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    runner = _Running(process)
    try:
        await runner.wait_for("Uvicorn running on", timeout=30)
        assert "Uvicorn running on" in runner.output(), runner.output()
        yield port
    finally:
        process.terminate()
        with trio.fail_after(15):
            await process.wait()


def summary(response: Response) -> tuple[int, dict[str, str | None], Any]:
    """What must agree: the status, the headers that matter, the body."""
    body: Any = response.body
    if response.header("content-type") == "application/json" and body:
        body = json.loads(body)
    return (response.status, {h: response.header(h) for h in HEADERS_THAT_MATTER}, body)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("app", "requests"),
    [
        ("tests.asgi_fastapi_app:app", FASTAPI_REQUESTS),
        ("tests.asgi_starlette_app:app", STARLETTE_REQUESTS),
    ],
)
async def test_a_framework_app_answers_as_under_uvicorn_request_by_request(
    app: str, requests: list[tuple[str, str, list[tuple[str, str]], bytes]], http_parser: str
) -> None:
    async with command_line(app) as server, uvicorn(app, http_parser) as uvicorn_port:
        for method, path, headers, body in requests:
            mine = await fetch(server.port, path, method, headers, body)
            theirs = await fetch(uvicorn_port, path, method, headers, body)
            assert summary(mine) == summary(theirs), (method, path)
    assert "ERROR" not in server.output(), server.output()


async def test_the_http_scope_s_keys_agree_with_uvicorn_s_for_the_same_raw_requests(
    http_parser: str,
) -> None:
    app = "tests.asgi_fastapi_app:app"
    sent = [
        ("/scope", []),
        ("/scope?a=1&b=%20x", [("X-Repeated", "1"), ("X-Repeated", "2")]),
        ("/scope/../scope", [("Cookie", "a=b")]),
    ]
    async with command_line(app) as server, uvicorn(app, http_parser) as uvicorn_port:
        for path, headers in sent:
            mine = json.loads((await fetch(server.port, path, headers=headers)).body)
            theirs = json.loads((await fetch(uvicorn_port, path, headers=headers)).body)
            assert mine == theirs, path


@pytest.mark.parametrize("ws", PROTOCOLS)
async def test_a_fastapi_websocket_route_echoes_and_closes_with_4001(ws: str) -> None:
    if ws == "websockets":
        pytest.importorskip("websockets")
    async with command_line("tests.asgi_fastapi_app:app", "--ws-protocol", ws) as server:
        async with open_ws(server.port, "/ws") as socket:
            await socket.send("hi")
            assert await socket.receive() == "echo hi"
            await socket.send("bye")
            assert await socket.receive() == Closed(4001, "")
        async with open_ws(server.port, "/ws") as socket:  # and the next one too
            await socket.send("again")
            assert await socket.receive() == "echo again"


async def test_a_starlette_app_under_two_workers() -> None:
    async with command_line("tests.asgi_starlette_app:app", "--workers", "2") as server:
        for index in range(8):
            response = await fetch(server.port, f"/users/n{index}")
            assert response.status == 200
            assert json.loads(response.body) == {"user": f"n{index}", "greeting": "hello"}
        async with open_ws(server.port, "/ws") as socket:
            await socket.send("x")
            assert await socket.receive() == "echo x"


async def test_the_command_line_tells_an_asgi_app_from_a_loop_and_says_a_wrong_choice() -> None:
    with trio.fail_after(30):
        done = await trio.run_process(
            python_argv(
                "-m", "httpserver", "tests.asgi_fastapi_app:app", "--interface", "misultin"
            ),
            cwd=ROOT,
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )
    assert done.returncode == 2
    last = done.stderr.decode().strip().splitlines()[-1]
    assert "it takes (scope, receive, send), so it is an ASGI app" in last
    assert "--interface asgi" in last


async def test_a_failed_lifespan_startup_ends_the_command_with_one_line_and_status_1() -> None:
    with trio.fail_after(30):
        done = await trio.run_process(
            python_argv(
                "-m",
                "httpserver",
                "tests.asgi_apps:failing_startup",
                "--ip",
                "127.0.0.1",
                "--port",
                "0",
            ),
            cwd=ROOT,
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )
    assert done.returncode == 1
    output = (done.stdout + done.stderr).decode().strip().splitlines()
    assert len(output) == 1, output
    assert output[0].endswith("the ASGI app's lifespan startup failed: no database")
