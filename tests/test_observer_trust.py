"""The observer trusts nothing it is sent (issue 19), over real sockets and
real OS processes: no answer a tokenless client can fetch holds the kill
token; bad requests get a 4xx, never a crash report or an event; events a
client can cause cannot push real crashes off the page; a kill must be the
page's own (JSON, same Origin); an address other machines reach needs a
token and allowed Host names; system processes are never killed and are
flagged for the page to hide; and `python -m observer` takes its secrets
from the environment or a file, never from its command line."""

from __future__ import annotations

import json
import logging
import re
import sys
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import trio

import actors
import httpserver
import observer
from actors import Supervisor, child
from tests.cluster_helpers import ROOT, start_node
from tests.conftest import RedisServer
from tests.http_helpers import Response, fetch, raw
from tests.observer_helpers import (
    PAGE_KILL,
    kill,
    observer_program,
    observing,
    port_of,
    snapshot_where,
)
from tests.ws_helpers import Closed, WsClient, open_ws

TOKEN = "the-kill-token-0123456789"


async def keeps(*args: Any, **kwargs: Any) -> None:
    """A process whose arguments hold the token; it waits for nothing."""
    await actors.receive("never")


async def crash_when_told() -> None:
    await actors.receive("crash")
    raise RuntimeError("told to crash")


async def crash_with_the_token() -> None:
    """Crashes with a reason that holds a partial carrying the token."""
    await actors.receive("crash")
    raise RuntimeError(partial(keeps, token=TOKEN))


def pids_of(snap: dict[str, Any]) -> set[tuple[str, str]]:
    """(node, pid) of every process a snapshot names: rows, trees, sockets."""
    found = {(row["node"], row["pid"]) for row in snap["processes"]}

    def walk(node: str, entry: dict[str, Any]) -> None:
        if entry.get("pid"):
            found.add((node, entry["pid"]))
        for sub in entry.get("children", ()):
            walk(node, sub)

    for tree in snap["trees"]:
        walk(tree["node"], tree)
    for sock in snap["sockets"]:
        found |= {(sock["node"], sock["handler"]), (sock["node"], sock["writer"])}
    return found


async def process_page(port: int, node: str, pid: str) -> Response:
    return await fetch(port, f"/api/process?node={quote(node)}&pid={quote(pid)}")


async def answer_to(client: WsClient, question: str) -> str:
    """What a page's socket answers `question` with (snapshots skipped)."""
    await client.send(question)
    with trio.fail_after(5):
        while True:
            text = await client.receive()
            assert isinstance(text, str), text
            if json.loads(text)["type"] != "snapshot":
                return text


async def ask_over(client: WsClient, node: str, pid: str) -> str:
    """A page's question about one process, and the answer's text."""
    return await answer_to(client, json.dumps({"op": "process", "node": node, "pid": pid}))


async def test_the_token_never_appears_in_any_answer_a_tokenless_client_can_fetch() -> None:
    async with actors.node():
        # The observer in a tree, its token in its child spec (a partial), as
        # the observer guide shows it; a pool whose template and child hold it too; a
        # message holding it; a crash whose reason holds it.
        start = partial(observer.start_link, port=0, announce=False, token=TOKEN, show_state=True)
        app = await Supervisor.start_link(
            [
                child(start, id="observer"),
                child(crash_with_the_token, id="crasher"),
                child(
                    partial(
                        Supervisor.start_link,
                        [child(partial(keeps, token=TOKEN), id="pooled")],
                        strategy="simple_one_for_one",
                        name="pool",
                    ),
                    id="pool",
                ),
            ],
            name="app",
            intensity=10,
        )
        await Supervisor.start_child("pool", TOKEN)
        waiter = actors.spawn(keeps)
        actors.send(waiter, ("config", partial(keeps, token=TOKEN)))
        children = {c.id: c.pid for c in await actors.which_children(app)}
        port = observer.info(children["observer"])["port"]
        answers: list[str] = []
        async with open_ws(port, "/ws") as client:
            await snapshot_where(client, lambda s: bool(s["sockets"]))
            actors.send(children["crasher"], "crash")
            snap = await snapshot_where(
                client, lambda s: any(e["kind"] == "restart" for e in s["events"])
            )
            answers.append(json.dumps(snap))
            for node, pid in sorted(pids_of(snap)):
                answers.append((await process_page(port, node, pid)).text)
                answers.append(await ask_over(client, node, pid))
        for path in ("/", "/index.html", "/observer.css", "/observer.js", "/api/snapshot", "/x"):
            answers.append((await fetch(port, path)).text)
        answers.append((await fetch(port, "/api/kill")).text)
        answers.append((await kill(port, node=actors.node_name(), pid=str(waiter))).text)
        for answer in answers:
            assert TOKEN not in answer
        # the crawl saw the states, the messages and the reasons that held it
        seen = "\n".join(answers)
        assert "child(observer._observer.start_link, id='observer'" in seen
        assert f"partial({__name__}.keeps, ...)" in seen
        assert "RuntimeError(partial(" in seen
        actors.exit(app, "shutdown")


async def test_bad_requests_answer_4xx_leave_no_crash_report_and_keep_the_crash_history(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with actors.node():
        sup = await Supervisor.start_link([child(crash_when_told, id="crasher")], intensity=10)
        async with observing() as (_, port), open_ws(port, "/ws") as client:
            await snapshot_where(client, lambda s: True)
            ((_, crasher, _),) = await actors.which_children(sup)
            actors.send(crasher, "crash")  # a real crash, and its restart
            before = await snapshot_where(
                client, lambda s: {e["kind"] for e in s["events"]} == {"exit", "restart"}
            )
            caplog.clear()
            node = actors.node_name()
            deep = "[" * 2000 + "]" * 2000  # within the size limit; too deep for json
            bodies = [
                b'{"node": "n", "pid": "p", "token": "\\ud800"}',  # not encodable
                b"[" * 200_000 + b"]" * 200_000,  # 400 kB, 200,000 deep
                deep.encode(),
                json.dumps({"node": 1, "pid": [], "token": {}}).encode(),
                json.dumps(["node", "pid", "token"]).encode(),
                json.dumps({"node": node, "pid": [[[[[]]]]], "token": "x"}).encode(),
                b"\xff\xfe not utf-8",
                b"",
            ]
            statuses = set()
            for i in range(48):
                body = bodies[i % len(bodies)]
                status = await kill_status(port, body)
                assert 400 <= status < 500, (body[:50], status)
                statuses.add(status)
            assert statuses == {400, 403, 413}  # a token that is not text: just wrong
            for question in [
                deep,
                '{"op": "process", "node": "\\ud800", "pid": "\\udfff"}',
                '{"op": ["process"]}',
                '{"op": "process", "node": {"a": 1}, "pid": 7}',
                "[1, 2, 3]",
                "not json",
                '{"op": "' + "x" * 3000 + '"}',
                '{"op": "reboot"}',
                '"\\ud800"',
                "{}",
                "null",
            ]:
                answer = json.loads(await answer_to(client, question))
                assert answer["type"] in ("error", "process"), answer
                assert answer.get("error"), answer
            async with open_ws(port, "/ws") as second:
                await second.send("x" * 10_000)  # past the size a page's question takes
                with trio.fail_after(5):
                    while not isinstance(closed := await second.receive(), Closed):
                        pass  # the snapshot a new page gets at once
                assert closed.code == 1009, closed
            # what the page shows next: the real crash, and nothing of the above
            after = await snapshot_where(client, lambda s: s["time"] > before["time"])
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == [], [r.getMessage() for r in errors]
    assert after["events"] == before["events"]
    assert after["system_events"] == []


async def kill_status(port: int, body: bytes) -> int:
    """The status a kill with `body` gets. A body past the limit is
    announced, not sent: the server answers 413 before reading it."""
    if len(body) <= 4096:
        answer = await fetch(port, "/api/kill", method="POST", headers=PAGE_KILL, body=body)
        return answer.status
    head = "POST /api/kill HTTP/1.1\r\nHost: localhost\r\nOrigin: http://localhost\r\n"
    head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    return int((await raw(port, head.encode())).split(b" ", 2)[1])


async def test_crashes_a_client_causes_cannot_push_a_real_crash_off_the_page() -> None:
    async def crash_on_every_request(req: httpserver.Req) -> None:
        raise ValueError("a client made me crash")  # a 500, and the connection's crash

    async with actors.node():
        sup = await Supervisor.start_link([child(crash_when_told, id="crasher")], intensity=10)
        app = httpserver.start_link(ip="127.0.0.1", port=0, loop=crash_on_every_request)
        async with observing() as (_, port), open_ws(port, "/ws") as client:
            await snapshot_where(client, lambda s: True)
            ((_, crasher, _),) = await actors.which_children(sup)
            actors.send(crasher, "crash")
            await snapshot_where(client, lambda s: len(s["events"]) == 2)
            started = trio.current_time()
            for _ in range(60):
                assert (await fetch(httpserver.port(app), "/")).status == 500
            took = trio.current_time() - started
            after = await snapshot_where(client, flood_recorded)
        await httpserver.stop(app)
    kinds = [(e["kind"], e.get("pid") or e.get("old")) for e in after["events"]]
    assert ("exit", str(crasher)) in kinds  # the real crash, still listed
    assert ("restart", str(crasher)) in kinds  # and its restart
    flood = flood_of(after)
    assert len(flood) <= 20 + took + 1  # a burst of 20, then 1 a second
    assert len(flood) + after["events_dropped"]["crashes"] == 60


def flood_of(snap: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for e in snap["events"] if "a client made me crash" in e.get("reason", "")]


def flood_recorded(snap: dict[str, Any]) -> bool:
    """Every crash of the flood listed or counted (or the list full of them)."""
    listed = len(flood_of(snap))
    return listed + snap.get("events_dropped", {}).get("crashes", 0) >= 60 or listed >= 50


async def test_cross_site_kills_are_refused_and_same_origin_json_kills_work() -> None:
    async with actors.node():
        victim = actors.spawn(keeps)
        async with observing(token=TOKEN) as (_, port):
            await fetch(port, "/api/snapshot")
            fields = {"node": actors.node_name(), "pid": str(victim), "token": TOKEN}
            body = json.dumps(fields).encode()
            json_type = ("Content-Type", "application/json")
            refused = [
                [json_type],  # no Origin
                [json_type, ("Origin", "http://evil.example")],
                [json_type, ("Origin", "null")],
                [json_type, ("Origin", "http://localhost:1")],  # another port: another origin
                [("Content-Type", "text/plain"), ("Origin", "http://localhost")],
                [("Content-Type", "application/x-www-form-urlencoded")],
                [("Content-Type", "text/plain;charset=UTF-8")],  # a cross-site form's
                [("Origin", "http://localhost")],  # no Content-Type
            ]
            for headers in refused:
                answer = await fetch(port, "/api/kill", "POST", headers=headers, body=body)
                assert answer.status in (403, 415), (headers, answer.status)
                assert actors.process_info(victim) is not None
            ref = actors.monitor(victim)
            same_origin = [("Content-Type", "application/json; charset=utf-8")]
            same_origin.append(("Origin", "http://localhost"))
            answer = await fetch(port, "/api/kill", "POST", headers=same_origin, body=body)
            assert answer.status == 200, answer.text
            down = await actors.receive(actors.Down(ref, actors.ANY, actors.ANY), timeout=2)
            assert down.reason == "killed"


async def test_a_non_loopback_bind_needs_a_token_and_allowed_hosts_and_refuses_foreign_hosts(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with actors.node():
        for options in ({}, {"token": TOKEN}, {"allowed_hosts": ["observer.example"]}):
            with pytest.raises(
                ValueError, match=r"0\.0\.0\.0 is reachable .* token= .* allowed_hosts="
            ):
                await observer.start_link(ip="0.0.0.0", port=0, announce=False, **options)
        with pytest.raises(ValueError, match="not a host name"):
            await observer.start_link(
                ip="0.0.0.0", port=0, token=TOKEN, allowed_hosts=["*"], announce=False
            )
        caplog.clear()
        hosts = ["Observer.Example"]
        async with observing(ip="0.0.0.0", token=TOKEN, allowed_hosts=hosts) as (_, port):
            warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
            assert any("other machines reach" in m and "observer.example" in m for m in warned)

            async def status_for(host: str) -> bytes:
                request = f"GET /api/snapshot HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
                return (await raw(port, request.encode())).split(b"\r\n", 1)[0]

            assert await status_for(f"observer.example:{port}") == b"HTTP/1.1 200 OK"
            assert await status_for("OBSERVER.example") == b"HTTP/1.1 200 OK"
            assert await status_for(f"localhost:{port}") == b"HTTP/1.1 200 OK"
            for foreign in ("evil.example", f"evil.example:{port}", "observer.example.evil"):
                assert await status_for(foreign) == b"HTTP/1.1 403 Forbidden"
    # and the command line says why, before it listens
    with trio.fail_after(30):
        refused = await trio.run_process(
            [sys.executable, "-m", "observer", "--ip", "0.0.0.0", "--port", "0"],
            cwd=ROOT,
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )
    assert refused.returncode == 1
    assert b"--token-file and --allowed-host" in refused.stderr


async def test_system_processes_cannot_be_killed_through_the_api_and_are_flagged_to_hide() -> None:
    async with actors.node():
        start = partial(observer.start_link, port=0, announce=False, token=TOKEN)
        app = await Supervisor.start_link([child(start, id="observer")], name="app")
        ((_, server, _),) = await actors.which_children(app)
        port = observer.info(server)["port"]
        user = actors.spawn(keeps)
        marked = actors.spawn(keeps)
        actors.lowlevel.mark_system(marked)  # as an upper layer marks its own (a poller)
        async with open_ws(port, "/ws") as client:
            snap = await snapshot_where(client, lambda s: bool(s["sockets"]))
            rows = {row["pid"]: row for row in snap["processes"]}
            (sock,) = snap["sockets"]
            (tree,) = snap["trees"]
            system = {pid for pid, row in rows.items() if row["system"]}
            assert {row["name"] for row in rows.values() if row["system"]} >= {"$inspect"}
            # the observer's own: its server (a child in the user's tree), its
            # listener and collector, this page's connection and socket processes
            assert str(server) in system
            assert tree["children"][0]["system"] is True
            assert sock["system"] is True
            assert {sock["handler"], sock["writer"]} <= system
            assert {str(marked)} <= system
            assert rows[str(user)]["system"] is False
            assert rows[str(app)]["system"] is False
            assert (
                len(system) >= 7
            )  # $inspect, server, listener, collector, reader, writer, handler
            # and the user's own view leaves them out
            assert set(map(str, actors.processes())).isdisjoint(system)
            node = actors.node_name()
            for pid in sorted(system):
                answer = await kill(port, node=node, pid=pid, token=TOKEN)
                assert answer.status == 403, answer.text
                assert "system process" in json.loads(answer.body)["error"]
                assert json.loads(await ask_over(client, node, pid))["system"] is True
            alive = [p for p in actors.lowlevel.process_rows() if str(p["pid"]) in system]
            assert len(alive) == len(system)  # none was killed
            assert (await kill(port, node=node, pid=str(user), token=TOKEN)).status == 200
        actors.exit(app, "shutdown")


@pytest.mark.parametrize("secrets_from", ["token file", "environment"])
async def test_the_observer_cli_joins_a_cluster_with_no_secret_on_its_command_line(
    secrets_from: str, tmp_path: Path
) -> None:
    password, cookie = "redis-pass-4b1d", "cookie-of-the-cluster-77"
    redis = RedisServer("--requirepass", password)
    try:
        url = f"redis://:{password}@127.0.0.1:{redis.port}/0"
        env = {"TRIO_MISULTIN_CLUSTER": url}
        if secrets_from == "token file":
            (tmp_path / "token").write_text(TOKEN + "\n")
            args: tuple[str, ...] = ("--token-file", str(tmp_path / "token"))
            env["TRIO_MISULTIN_COOKIE"] = cookie
        else:
            args = ()
            env["OBSERVER_TOKEN"] = TOKEN
            env["OBSERVER_COOKIE"] = cookie  # the older name still works
        stop = trio.Event()

        async def watched() -> None:
            actors.spawn(keeps, name="victim")
            await stop.wait()

        async with trio.open_nursery() as nursery:
            await start_node(nursery, "watched", url, watched, cookie=cookie)
            line = rb"observer on (http://[^/\s]+/) kill token(?: from)?:? (\S+)"
            async with observer_program(*args, env=env, line=re.compile(line)) as (program, found):
                cmdline = await trio.Path(f"/proc/{program.pid}/cmdline").read_bytes()
                port = port_of(found.group(1))
                async with open_ws(port, "/ws") as client:
                    snap = await snapshot_where(client, victim_or_alone, timeout=10)
                assert [n["node"] for n in snap["nodes"]] == ["watched"]  # joined, hidden itself
                (victim,) = [r for r in snap["processes"] if r.get("name") == "victim"]
                killed = await kill(port, node="watched", pid=victim["pid"], token=TOKEN)
            stop.set()
    finally:
        redis.stop()
    for secret in (password, cookie, TOKEN, url):
        assert secret.encode() not in cmdline
    assert b"-m\x00observer" in cmdline
    assert killed.status == 200, killed.text  # the token it read is the one that works


def victim_or_alone(snap: dict[str, Any]) -> bool:
    """The watched node's victim is listed, or the observer is a node of its
    own, outside any cluster (then it will never be)."""
    alone = [n["node"] for n in snap["nodes"]] == ["nonode@nohost"]
    return alone or any(r.get("name") == "victim" for r in snap["processes"])
