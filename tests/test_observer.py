"""The observer over real sockets: its page and assets, the snapshots a page's
WebSocket receives (once a second, and at once on a crash), the kill that
needs the token, show_state, and `python -m observer --cluster` attached to
a cluster of two nodes as a hidden node."""

from __future__ import annotations

import json
from functools import partial
from typing import Any
from urllib.parse import quote

import pytest
import trio

import actors
import observer
from actors import GenServer, Supervisor, child
from tests.cluster_helpers import COOKIE, FAST, start_node
from tests.http_helpers import example, fetch, raw
from tests.observer_helpers import (
    LINE,
    child_of,
    kill,
    observer_program,
    observing,
    port_of,
    snapshot_where,
)
from tests.ws_helpers import Closed, WsClient, handshake, open_ws


class Keeper(GenServer):
    """A server with something in its state."""

    def init(self) -> None:
        self.secret = "xyzzy-42"

    def handle_call(self, request: Any, from_: actors.From) -> Any:
        return self.secret


async def crash_when_told() -> None:
    """A worker that crashes when it gets "crash"."""
    await actors.receive("crash")
    raise RuntimeError("told to crash")


async def app() -> actors.Pid:
    return await Supervisor.start_link(
        [
            child(partial(Keeper.start_link, name="keeper"), id="keeper"),
            child(crash_when_told, id="crasher"),
        ],
        strategy="one_for_one",
        intensity=10,
        period=5,
        name="app",
    )


async def test_the_page_and_its_assets_are_served_from_the_package() -> None:
    async with actors.node(), observing() as (_, port):
        page = await fetch(port, "/")
        assert page.status == 200
        assert page.header("content-type") == "text/html; charset=utf-8"
        assert b'src="observer.js"' in page.body
        script = await fetch(port, "/observer.js")
        assert script.status == 200
        assert script.header("content-type") == "text/javascript; charset=utf-8"
        assert b"new WebSocket" in script.body
        style = await fetch(port, "/observer.css")
        assert style.status == 200
        assert style.header("content-type") == "text/css; charset=utf-8"
        csp = page.header("content-security-policy")
        assert csp is not None
        assert "script-src 'self'" in csp
        assert (await fetch(port, "/nothing-here")).status == 404
        for asset in (page, script, style):  # nothing from elsewhere: it works offline
            assert b"://" not in asset.body


async def test_a_page_gets_a_snapshot_of_nodes_trees_processes_and_sockets() -> None:
    async with actors.node():
        await app()
        keeper = actors.whereis("keeper")
        here = actors.node_name()
        async with observing() as (pid, port), open_ws(port, "/ws") as client:
            token = observer.info(pid)["token"]
            snap = await snapshot_where(client, lambda s: bool(s["sockets"]), timeout=3)
            text = json.dumps(snap)
            for row in snap["processes"]:  # nor in any process's page
                query = f"node={quote(here)}&pid={quote(row['pid'])}"
                detail = await fetch(port, f"/api/process?{query}")
                assert token not in detail.text
    assert [n["node"] for n in snap["nodes"]] == [here]
    node = snap["nodes"][0]
    assert node["processes"] >= 5
    assert node["rss"] > 0
    assert node["websockets"] == 1
    assert isinstance(node["http_connections"], int)
    (tree,) = [t for t in snap["trees"] if t["name"] == "app"]
    assert tree["strategy"] == "one_for_one"
    assert [c["id"] for c in tree["children"]] == ["keeper", "crasher"]
    assert child_of(snap, "keeper")["pid"] == str(keeper)
    rows = {row["pid"]: row for row in snap["processes"]}
    assert rows[str(keeper)]["name"] == "keeper"
    assert rows[str(keeper)]["kind"] == "gen_server"
    assert str(tree["pid"]) in rows[str(keeper)]["links"]
    assert token not in text  # not in a process's current function, say
    (sock,) = snap["sockets"]
    assert sock["path"] == "/ws"
    assert sock["peer"].startswith("127.0.0.1:")
    assert isinstance(sock["compression"], bool)
    assert sock["handler"] in rows


async def test_a_crash_is_pushed_at_once_not_at_the_next_tick() -> None:
    async with actors.node():
        await app()
        # An hour between ticks: whatever comes within seconds came from the crash.
        async with observing(interval=3600) as (_, port), open_ws(port, "/ws") as client:
            first = await snapshot_where(client, lambda s: bool(s["trees"]))
            before = child_of(first, "crasher")
            assert before["restarts"] == 0
            assert before["last_exit"] is None
            actors.send(before_pid(before), "crash")
            after = await snapshot_where(
                client,
                lambda s: (
                    child_of(s, "crasher")["restarts"] == 1
                    and "restart" in {event["kind"] for event in s["events"]}
                ),
                timeout=3,
            )
    crasher = child_of(after, "crasher")
    assert crasher["pid"] not in (None, before["pid"])
    assert "told to crash" in crasher["last_exit"]
    (exit_event,) = [e for e in after["events"] if e["kind"] == "exit"]
    assert exit_event["pid"] == before["pid"]
    assert "told to crash" in exit_event["reason"]
    (restart,) = [e for e in after["events"] if e["kind"] == "restart"]
    assert (restart["id"], restart["old"], restart["new"]) == (
        "crasher",
        before["pid"],
        crasher["pid"],
    )


def restarted(snap: dict[str, Any], times: int) -> bool:
    return bool(child_of(snap, "crasher")["restarts"] == times)


async def test_a_snapshot_has_the_global_names_and_the_restarts_each_limit_counts() -> None:
    """The page words a supervisor's limit beside the restarts it bounds
    (those within its period: "recent"), and lists the global names."""
    async with actors.node():
        await app()  # intensity 10 within 5 s
        keeper = actors.whereis("keeper")
        assert keeper is not None
        assert await actors.register_global(("keeper", 1), keeper)
        here = actors.node_name()
        async with observing(interval=3600) as (_, port), open_ws(port, "/ws") as client:
            first = await snapshot_where(client, lambda s: bool(s["trees"]))
            (tree,) = [t for t in first["trees"] if t["name"] == "app"]
            assert (tree["intensity"], tree["period"], tree["recent"], tree["restarts"]) == (
                10, 5, 0, 0,
            )  # fmt: skip
            snap = first
            for made in (1, 2):  # an hour between ticks: each snapshot comes from a crash
                actors.send(before_pid(child_of(snap, "crasher")), "crash")
                snap = await snapshot_where(client, partial(restarted, times=made))
    (tree,) = [t for t in snap["trees"] if t["name"] == "app"]
    assert (tree["recent"], tree["restarts"]) == (2, 2)
    assert snap["globals"] == [
        {"name": "('keeper', 1)", "pid": str(keeper), "node": here, "system": False}
    ]  # a name that is not a str is shown by its repr
    assert snap["globals_total"] == 1


async def test_running_time_is_counted_only_while_a_page_is_open() -> None:
    async with actors.node(), observing() as (_, port):
        unwatched = json.loads((await fetch(port, "/api/snapshot")).body)
        assert {row["runtime"] for row in unwatched["processes"]} == {None}
        async with open_ws(port, "/ws") as client:
            watched = await snapshot_where(client, lambda s: True)
        assert all(isinstance(row["runtime"], float) for row in watched["processes"])


def before_pid(entry: dict[str, Any]) -> actors.Pid:
    """The live Pid a snapshot's "<0.N.0>" names (this node's processes)."""
    (pid,) = [p for p in actors.processes() if str(p) == entry["pid"]]
    return pid


async def test_kill_without_the_token_is_403_and_with_it_kills() -> None:
    async with actors.node():
        victim = actors.spawn(actors.receive)
        ref = actors.monitor(victim)
        async with observing() as (pid, port):
            token = observer.info(pid)["token"]
            assert (await fetch(port, "/api/snapshot")).status == 200  # the Pids it names
            node = actors.node_name()

            async def kill_victim(**fields: Any) -> int:
                return (await kill(port, **{"node": node, "pid": str(victim), **fields})).status

            assert await kill_victim() == 403
            assert await kill_victim(token="") == 403
            assert await kill_victim(token=token[:-1] + ("x" if token[-1] != "x" else "y")) == 403
            assert actors.process_info(victim) is not None
            assert (await fetch(port, "/api/kill", method="GET")).status == 405
            assert await kill_victim(token=token) == 200
            down = await actors.receive(actors.Down(ref, actors.ANY, actors.ANY), timeout=2)
            assert down.reason == "killed"
            assert await kill_victim(token=token, pid="<0.999999.0>") == 404


async def _waits_for_stop() -> None:
    await actors.receive("stop")


async def test_states_and_messages_are_shown_only_with_show_state() -> None:
    async with actors.node():
        keeper = await Keeper.start()
        waiter = actors.spawn(_waits_for_stop)
        actors.send(waiter, ("password", "plugh-7"))  # left waiting: it wants "stop"
        node = actors.node_name()

        def path(pid: actors.Pid) -> str:
            return f"/api/process?node={quote(node)}&pid={quote(str(pid))}"

        for show_state in (False, True):
            async with observing(show_state=show_state) as (_, port):
                await fetch(port, "/api/snapshot")
                answer = await fetch(port, path(keeper))
                waiting = await fetch(port, path(waiter))
            assert answer.status == 200, answer.text
            detail = json.loads(answer.body)
            assert detail["info"]["registered_name"] is None
            assert isinstance(detail["stack"], list)
            assert json.loads(waiting.body)["info"]["message_queue_len"] == 1
            if show_state:
                assert detail["state"] == {"secret": "xyzzy-42"}
                assert json.loads(waiting.body)["messages"] == ["('password', 'plugh-7')"]
            else:
                assert "state" not in detail
                assert "messages" not in detail
                assert b"xyzzy" not in answer.body
                assert b"plugh" not in waiting.body
        actors.send(waiter, "stop")


async def test_a_page_asks_for_one_process_over_its_socket() -> None:
    async with actors.node():
        keeper = await Keeper.start(name="keeper")
        async with observing() as (_, port), open_ws(port, "/ws") as client:
            await snapshot_where(client, lambda s: True)
            ask = {"op": "process", "node": actors.node_name(), "pid": str(keeper)}
            await client.send(json.dumps(ask))
            with trio.fail_after(5):
                while True:
                    answer = json.loads(await client.receive())  # type: ignore[arg-type]
                    if answer["type"] == "process":
                        break
    assert answer["pid"] == str(keeper)
    assert answer["info"]["registered_name"] == "keeper"
    assert any("receive" in frame or "_serve" in frame for frame in answer["stack"])


async def test_a_loopback_observer_refuses_other_hosts_and_cross_site_sockets() -> None:
    async with actors.node(), observing() as (_, port):

        async def status_for(host: str) -> bytes:
            request = f"GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
            return (await raw(port, request.encode())).split(b"\r\n", 1)[0]

        assert await status_for("evil.example") == b"HTTP/1.1 403 Forbidden"
        assert await status_for(f"evil.example:{port}") == b"HTTP/1.1 403 Forbidden"
        assert await status_for(f"127.0.0.1:{port}") == b"HTTP/1.1 200 OK"
        assert await status_for(f"localhost:{port}") == b"HTTP/1.1 200 OK"
        assert await status_for(f"[::1]:{port}") == b"HTTP/1.1 200 OK"
        with trio.fail_after(10):
            stream, conn, answer = await handshake(
                port, "/ws", headers=[("Origin", "http://evil.example")]
            )
        async with stream:
            client = WsClient(stream, conn, answer)  # type: ignore[arg-type]
            closed = await client.receive()
        assert closed == Closed(1008, "not this observer's page")


async def test_in_a_supervision_tree_it_comes_back_with_the_same_token() -> None:
    async with actors.node():
        start = partial(observer.start_link, port=0, announce=False)
        sup = await Supervisor.start_link([child(start, id="observer")])
        ((_, first, _),) = [(c.id, c.pid, c.type) for c in await actors.which_children(sup)]
        assert first is not None
        token = observer.info(first)["token"]
        actors.lowlevel.subscribe()
        actors.exit(first, "kill")
        await actors.receive(("actors_event", "restart", actors.ANY), timeout=5)
        ((_, second, _),) = [(c.id, c.pid, c.type) for c in await actors.which_children(sup)]
        assert second not in (None, first)
        assert observer.info(second)["token"] == token
        with pytest.raises(LookupError):
            observer.info(first)


async def test_start_link_prints_where_and_the_token(capsys: pytest.CaptureFixture[str]) -> None:
    async with actors.node():
        pid = await observer.start_link(port=0, token="a-token-of-mine")
        found = LINE.search(capsys.readouterr().out.encode())
        assert found is not None
        assert found.group(1).decode() == observer.info(pid)["url"]
        assert found.group(2) == b"a-token-of-mine"
        assert observer.info(pid)["url"].startswith("http://127.0.0.1:")


async def test_python_m_observer_serves_its_own_node() -> None:
    async with observer_program() as (_, printed):
        snap = json.loads((await fetch(port_of(printed.group(1)), "/api/snapshot")).body)
    assert [n["node"] for n in snap["nodes"]] == ["nonode@nohost"]
    assert any(row["current_function"].startswith("observer") for row in snap["processes"])


async def test_python_m_observer_attaches_to_a_cluster_as_a_hidden_node(redis_url: str) -> None:
    async def idle() -> None:
        victim = actors.spawn(actors.receive, name="victim")
        if actors.node_name() == "obs-a":
            assert await actors.register_global("the-victim", victim)
        await actors.receive("stop")

    def victim_of(snap: dict[str, Any]) -> dict[str, Any] | None:
        rows = [r for r in snap["processes"] if r["node"] == "obs-a" and r["name"] == "victim"]
        return rows[0] if rows else None

    async with trio.open_nursery() as nursery:
        await start_node(nursery, "obs-a", redis_url, idle)
        await start_node(nursery, "obs-b", redis_url, idle)
        cluster = ("--cluster", redis_url, "--cookie", COOKIE, "--node", "obs-watcher")
        async with observer_program(*cluster) as (_, printed):
            port, token = port_of(printed.group(1)), printed.group(2).decode()
            async with open_ws(port, "/ws") as client:
                snap = await snapshot_where(
                    client,
                    lambda s: (
                        {n["node"] for n in s["nodes"] if "error" not in n} == {"obs-a", "obs-b"}
                    ),
                    timeout=10,
                )
                victim = victim_of(snap)
                assert victim is not None
                # the cluster's global names, from the hidden node's replica
                assert [(g["name"], g["pid"], g["node"]) for g in snap["globals"]] == [
                    ("the-victim", victim["pid"], "obs-a")
                ]
                # a kill from the page reaches a process of another node
                killed = await kill(port, node="obs-a", pid=victim["pid"], token=token)
                assert killed.status == 200, killed.text
                await snapshot_where(client, lambda s: victim_of(s) is None)
        nursery.cancel_scope.cancel()
    assert all(not n["hidden"] for n in snap["nodes"])
    assert {row["node"] for row in snap["processes"]} == {"obs-a", "obs-b"}


async def test_the_supervised_app_example_prints_its_observer_and_shows_its_tree() -> None:
    async with example("supervised_app", "--observer", "0", "--crash-every", "60") as app:
        found = LINE.search(app.output().encode())  # printed before "listening on"
        assert found is not None, app.output()
        port = port_of(found.group(1))
        snap = json.loads((await fetch(port, "/api/snapshot")).body)
    (tree,) = [t for t in snap["trees"] if t["name"] == "app"]
    assert [c["id"] for c in tree["children"]] == ["tally", "pool", "flaky", "feeder", "web"]
    (pool,) = [c for c in tree["children"] if c["id"] == "pool"]
    assert pool["type"] == "supervisor"
    assert pool["supervisor"]["strategy"] == "simple_one_for_one"


async def test_a_crowded_node_with_a_deep_tree_is_shown_as_far_as_it_came(redis_url: str) -> None:
    """An answer between nodes is cut (1000 rows, 8 levels): the observer
    shows what came, counts what the node has, and keeps going."""
    ready = trio.Event()

    async def crowded() -> None:
        for _ in range(1100):
            actors.spawn(actors.receive)
        kids = [child(actors.receive, id="leaf")]
        for level in range(5):
            kids = [child(partial(Supervisor.start_link, kids), id=f"level{level}")]
        await Supervisor.start_link(kids, name="deep")
        ready.set()
        await actors.receive("stop")

    async with trio.open_nursery() as nursery:
        await start_node(nursery, "crowded", redis_url, crowded)
        await ready.wait()
        async with (
            actors.node(name="watcher", cluster=redis_url, cookie=COOKIE, **FAST),
            observing() as (_, port),
        ):
            answer = await fetch(port, "/api/snapshot")
        nursery.cancel_scope.cancel()
    assert answer.status == 200, answer.text
    snap = json.loads(answer.body)
    crowded_node = next(n for n in snap["nodes"] if n["node"] == "crowded")
    assert "error" not in crowded_node
    assert snap["processes_total"] >= 1100
    assert len(snap["processes"]) == 1000  # max_processes
    (deep,) = [t for t in snap["trees"] if t["name"] == "deep"]
    assert deep["children"][0]["id"] == "level4"
