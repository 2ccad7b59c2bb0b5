"""The command line's log, read from a real OS process: an access line per
request by default (`--no-access-log` stops it), for misultin loops and
ASGI apps, in every worker; JSON lines with `--log-format json`, an error's
traceback as a field; a handler's crash named by its request."""

from __future__ import annotations

import json
import re

import pytest
import trio

from tests.cli_helpers import command_line, environment
from tests.http_helpers import fetch

ACCESS = re.compile(r' INFO httpserver\.access: 127\.0\.0\.1 "(?P<line>[^"]*)" (\d+) (\d+)$')


def access_lines(output: str) -> list[tuple[str, int, int]]:
    found = []
    for line in output.splitlines():
        match = ACCESS.search(line)
        if match:
            found.append((match["line"], int(match[2]), int(match[3])))
    return found


async def test_the_command_line_writes_one_access_line_per_request() -> None:
    async with command_line("tests.cli_app:crashes_on_boom") as server:
        assert (await fetch(server.port, "/a?x=1")).text == "fine"
        assert (await fetch(server.port, "/b", method="HEAD")).status == 200
        assert (await fetch(server.port, "/boom")).status == 500
        await server.wait_for('"GET /boom HTTP/1.1" 500')
    assert access_lines(server.output()) == [
        ("GET /a?x=1 HTTP/1.1", 200, 4),
        ("HEAD /b HTTP/1.1", 200, 0),
        ("GET /boom HTTP/1.1", 500, 0),
    ]


async def test_no_access_log_writes_none() -> None:
    async with command_line("tests.cli_app:crashes_on_boom", "--no-access-log") as server:
        for _ in range(3):
            assert (await fetch(server.port, "/")).text == "fine"
    assert "httpserver.access" not in server.output()
    assert access_lines(server.output()) == []


async def test_an_asgi_app_gets_its_access_lines_too() -> None:
    async with command_line("tests.asgi_apps:echo_app") as server:
        response = await fetch(server.port, "/echo", method="POST", body=b"hello")
        assert response.status == 200
        await server.wait_for('"POST /echo HTTP/1.1" 200')
    ((line, status, size),) = access_lines(server.output())
    assert (line, status, size) == ("POST /echo HTTP/1.1", 200, len(response.body))


async def test_every_worker_writes_the_access_lines_of_its_requests() -> None:
    async with command_line("tests.cli_app:which_process", "--workers", "2") as server:
        pids = {(await fetch(server.port, f"/{n}")).text for n in range(40)}
        with trio.fail_after(10):
            while len(access_lines(server.output())) < 40:
                await server._read_more()
    assert len(pids) == 2, pids  # (the kernel spread 40 connections over both)
    lines = access_lines(server.output())
    assert sorted(line for line, _, _ in lines) == sorted(f"GET /{n} HTTP/1.1" for n in range(40))


async def test_a_handler_crash_is_one_report_naming_the_request() -> None:
    async with command_line("tests.cli_app:crashes_on_boom") as server:
        assert (await fetch(server.port, "/boom?why=1")).status == 500
        await server.wait_for('"GET /boom?why=1 HTTP/1.1" 500')
    output = server.output()
    errors = [line for line in output.splitlines() if " ERROR " in line]
    assert len(errors) == 1, output  # once, not also as a process's crash report
    assert errors[0].endswith(
        "ERROR httpserver: <Req GET /boom?why=1 HTTP/1.1> from 127.0.0.1:"
        " loop tests.cli_app.crashes_on_boom raised ValueError('on purpose'); answering 500"
    )
    assert "connection_main" not in output
    assert 'raise ValueError("on purpose")' in output  # the traceback, under it


@pytest.mark.parametrize("access", [True, False])
async def test_log_format_json_writes_one_object_per_line_an_error_with_its_traceback(
    access: bool,
) -> None:
    flags = ["--log-format", "json", *([] if access else ["--no-access-log"])]
    async with command_line("tests.cli_app:crashes_on_boom", *flags) as server:
        assert (await fetch(server.port, "/fine")).status == 200
        assert (await fetch(server.port, "/boom")).status == 500
        await server.wait_for("on purpose")
        if access:
            await server.wait_for('"GET /boom HTTP/1.1\\" 500')
    lines = server.output().strip().splitlines()
    assert lines[0].startswith("listening on http://127.0.0.1:")
    records = [json.loads(line) for line in lines[1:]]  # every other line is JSON
    for record in records:
        assert {"time", "level", "logger", "message"} <= set(record), record
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", record["time"])
    (error,) = [r for r in records if r["level"] == "ERROR"]
    assert error["logger"] == "httpserver"
    assert error["message"].startswith("<Req GET /boom HTTP/1.1> from 127.0.0.1: loop ")
    assert error["error"] == "ValueError('on purpose')"
    assert error["traceback"].startswith("Traceback (most recent call last):")
    assert 'raise ValueError("on purpose")' in error["traceback"]
    assert error["traceback"].endswith("ValueError: on purpose")
    accesses = [r for r in records if r["logger"] == "httpserver.access"]
    if not access:
        assert accesses == []
        return
    assert [(r["request"], r["status"], r["bytes"], r["peer"]) for r in accesses] == [
        ("GET /fine HTTP/1.1", 200, 4, "127.0.0.1"),
        ("GET /boom HTTP/1.1", 500, 0, "127.0.0.1"),
    ]
    assert records[-1]["message"] == "SIGTERM: draining 1 server(s), then exiting"


async def test_a_node_that_leaves_cleanly_is_no_warning_on_its_healthy_peer(redis_url: str) -> None:
    """Issue 21, item 6: a node stopped on purpose (SIGTERM) is an INFO line
    on the node that stays, "sees b down: it left", not a WARNING."""
    env = environment(TRIO_MISULTIN_CLUSTER=redis_url, TRIO_MISULTIN_COOKIE="leave-cookie")
    hello = "examples.hello_world:handle_http"
    async with command_line(hello, "--node", "a", "--log-level", "info", env=env) as stays:
        async with command_line(hello, "--node", "b", env=env):
            await stays.wait_for("node a sees b up")
        await stays.wait_for("node a sees b down")
    lines = stays.output().splitlines()
    (down,) = [line for line in lines if "node a sees b down" in line]
    assert down.endswith("INFO actors: actors cluster: node a sees b down: it left")
    assert not [line for line in lines if " WARNING " in line and "SIGTERM" not in line], lines
