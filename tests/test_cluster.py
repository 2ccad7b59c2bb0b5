"""Nodes of one cluster, through a real Redis: remote Pids behave as local
ones (send and its order, call, link, monitor, exit), names on other nodes,
global names, groups, and what a node going away does to all of them."""

from __future__ import annotations

from typing import Any

import pytest
import trio
import trio.testing

import actors
from actors import ANY, Down, Exit, GenServer, NodeDown
from actors.testing import assert_receive, forever, refute_receive, wait_node
from tests.cluster_helpers import COOKIE, FAST, start_node


async def sink() -> None:
    """Registered as "sink": answers ("hello", pid) with its own pid, and
    keeps every ("n", i) it gets until asked for them."""
    actors.register("sink")
    got: list[Any] = []
    while True:
        match await actors.receive():
            case ("hello", pid):
                actors.send(pid, ("sink", actors.self()))
            case ("n", i):
                got.append(i)
            case ("report", pid):
                actors.send(pid, ("got", got))
            case "crash":
                raise ValueError("the sink crashed")
            case "stop":
                return


class Counter(GenServer):
    def init(self) -> None:
        self.count = 0

    def handle_call(self, request: Any, from_: actors.From) -> Any:
        if request == "crash":
            raise RuntimeError("counter crashed")
        if request == "watchers":
            return actors.process_info(actors.self())["monitored_by"]  # type: ignore[index]
        self.count += request
        return (actors.node_name(), self.count)

    def handle_cast(self, msg: Any) -> None:
        self.count += msg


async def counter_node() -> None:
    await Counter.start(name="counter")
    await forever()


async def test_nodes_see_each_other_and_pids_name_their_node(redis_url: str) -> None:
    async with trio.open_nursery() as nursery:
        await start_node(nursery, "b", redis_url, sink)
        async with actors.node(name="a", cluster=redis_url, cookie=COOKIE, **FAST):
            assert actors.node_name() == "a"
            assert actors.nodes() == ["b"]
            actors.send(("sink", "b"), ("hello", actors.self()))
            _, remote = await assert_receive(("sink", ANY))
            assert remote.node == "b"
            assert actors.self().node == "a"
            assert not repr(remote).startswith("<0.")
            actors.send(remote, "stop")
        nursery.cancel_scope.cancel()


async def test_send_to_a_remote_pid_keeps_the_order_of_one_sender(redis_url: str) -> None:
    async with trio.open_nursery() as nursery:
        await start_node(nursery, "b", redis_url, sink)
        async with actors.node(name="a", cluster=redis_url, cookie=COOKIE, **FAST):
            actors.send(("sink", "b"), ("hello", actors.self()))
            _, remote = await assert_receive(("sink", ANY))
            for i in range(5000):
                actors.send(remote, ("n", i))
            actors.send(remote, ("report", actors.self()))
            _, got = await assert_receive(("got", ANY), timeout=10)
            assert got == list(range(5000))
        nursery.cancel_scope.cancel()


async def test_call_and_cast_reach_a_gen_server_on_another_node(redis_url: str) -> None:
    async with trio.open_nursery() as nursery:
        await start_node(nursery, "b", redis_url, counter_node)
        async with actors.node(name="a", cluster=redis_url, cookie=COOKIE, **FAST):
            assert await actors.call(("counter", "b"), 2) == ("b", 2)
            actors.cast(("counter", "b"), 10)
            assert await actors.call(("counter", "b"), 0) == ("b", 12)
            with pytest.raises(actors.CallExit) as raised:
                await actors.call(("nobody", "b"), 1)
            assert raised.value.reason == "noproc"
            with pytest.raises(actors.CallExit) as raised:
                await actors.call(("counter", "b"), "crash")
            assert isinstance(raised.value.reason, RuntimeError)  # a builtin: decoded as itself
        nursery.cancel_scope.cancel()


async def test_a_remote_call_leaves_no_monitor_on_either_node(redis_url: str) -> None:
    async with trio.open_nursery() as nursery:
        await start_node(nursery, "b", redis_url, counter_node)
        async with actors.node(name="a", cluster=redis_url, cookie=COOKIE, **FAST):
            for _ in range(20):
                await actors.call(("counter", "b"), 1)
            assert actors.process_info(actors.self())["monitors"] == []  # type: ignore[index]
            # this call's own monitor is the only one b holds on the counter
            assert await actors.call(("counter", "b"), "watchers") == [actors.self()]
        nursery.cancel_scope.cancel()


async def test_a_late_remote_reply_is_dropped_not_left_in_the_mailbox(redis_url: str) -> None:
    class Slow(GenServer):
        def handle_call(self, request: Any, from_: actors.From) -> Any:
            actors.send(actors.self(), ("answer", from_))
            return actors.NOREPLY

        def handle_info(self, msg: Any) -> None:
            if msg[0] == "answer":
                actors.send("gate", msg[1])

    async def slow_node() -> None:
        await Slow.start(name="slow")
        actors.register("gate")
        from_ = await actors.receive()
        await actors.receive("answer now")
        actors.reply(from_, "too late")
        await forever()

    async with trio.open_nursery() as nursery:
        await start_node(nursery, "b", redis_url, slow_node)
        async with actors.node(name="a", cluster=redis_url, cookie=COOKIE, **FAST):
            with pytest.raises(actors.CallTimeout):
                await actors.call(("slow", "b"), "q", timeout=0.3)
            actors.send(("gate", "b"), "answer now")
            await refute_receive(timeout=0.5)
        nursery.cancel_scope.cancel()


async def test_link_to_a_remote_process_carries_its_exit_both_ways(redis_url: str) -> None:
    async def b_body() -> None:
        actors.spawn(watch_node)
        actors.spawn(sink)
        await forever()

    async with trio.open_nursery() as nursery:
        await start_node(nursery, "b", redis_url, b_body)
        async with actors.node(name="a", cluster=redis_url, cookie=COOKIE, **FAST):
            actors.register("a-inbox")
            actors.trap_exits()
            actors.send(("sink", "b"), ("hello", actors.self()))
            _, remote = await assert_receive(("sink", ANY))
            actors.link(remote)
            actors.send(remote, "crash")
            exit_ = await assert_receive(Exit(remote, ANY), timeout=5)
            assert isinstance(exit_.reason, ValueError)
            assert str(exit_.reason) == "the sink crashed"

            # and the other way: a local process linked from b dies
            main = actors.self()

            async def linked_from_b() -> None:
                actors.send(("watch", "b"), ("link me", actors.self()))
                actors.send(main, await actors.receive(("linked", ANY)))
                await actors.receive("die")
                raise KeyError("local crash")

            local = actors.spawn(linked_from_b)
            _, who = await assert_receive(("linked", ANY), timeout=5)
            actors.send(local, "die")
            assert await assert_receive(("b saw", ANY), timeout=5) == (
                "b saw",
                "KeyError('local crash')",
            )
            assert who.node == "b"
        nursery.cancel_scope.cancel()


async def watch_node() -> None:
    """Registered as "watch": links to whoever asks and reports its exit."""
    actors.register("watch")
    actors.trap_exits()
    while True:
        match await actors.receive():
            case ("link me", pid):
                actors.link(pid)
                actors.send(pid, ("linked", actors.self()))
                asker = pid
            case Exit(pid, reason) if pid == asker:
                actors.send(("a-inbox", "a"), ("b saw", repr(reason)))


async def sink_node() -> None:
    actors.spawn(sink)
    await forever()


async def test_monitor_of_a_remote_process_gets_its_down(redis_url: str) -> None:
    async with trio.open_nursery() as nursery:
        await start_node(nursery, "b", redis_url, sink_node)
        async with actors.node(name="a", cluster=redis_url, cookie=COOKIE, **FAST):
            actors.send(("sink", "b"), ("hello", actors.self()))
            _, remote = await assert_receive(("sink", ANY))
            quiet = actors.monitor(remote)
            actors.demonitor(quiet)
            ref = actors.monitor(remote)
            actors.send(remote, "stop")
            assert await assert_receive(Down(ref, ANY, ANY), timeout=5) == Down(
                ref, remote, "normal"
            )
            await refute_receive(Down(quiet, ANY, ANY), timeout=0.2)
            late = actors.monitor(remote)  # already dead: "noproc"
            assert (await assert_receive(Down(late, ANY, ANY), timeout=5)).reason == "noproc"
        nursery.cancel_scope.cancel()


async def test_a_node_that_goes_away_is_noconnection_for_links_monitors_and_calls(
    redis_url: str,
) -> None:
    stop_b = trio.Event()

    async def b_body() -> None:
        await Counter.start(name="counter")
        actors.spawn(sink)
        await stop_b.wait()

    async with trio.open_nursery() as nursery:
        await start_node(nursery, "b", redis_url, b_body)
        async with actors.node(name="a", cluster=redis_url, cookie=COOKIE, **FAST):
            actors.trap_exits()
            actors.send(("sink", "b"), ("hello", actors.self()))
            _, remote = await assert_receive(("sink", ANY))
            actors.link(remote)
            ref = actors.monitor(remote)
            actors.monitor_node("b")

            stop_b.set()
            assert await assert_receive(NodeDown("b"), timeout=5) == NodeDown("b")
            assert await assert_receive(Down(ref, remote, ANY), timeout=5) == Down(
                ref, remote, "noconnection"
            )
            assert await assert_receive(Exit(remote, ANY), timeout=5) == Exit(
                remote, "noconnection"
            )
            assert actors.nodes() == []
            # after it is gone: a call fails at once, a monitor is "noconnection"
            with pytest.raises(actors.CallExit) as raised:
                await actors.call(("counter", "b"), 0)
            assert raised.value.reason == "noconnection"
            again = actors.monitor(remote)
            assert (await assert_receive(Down(again, ANY, ANY))).reason == "noconnection"
            actors.send(remote, "dropped, silently")
        nursery.cancel_scope.cancel()


async def test_global_names_have_one_owner_when_two_nodes_race(redis_url: str) -> None:
    results: dict[str, Any] = {}
    b_done = trio.Event()

    async def racer(name: str) -> None:
        results[name] = await actors.register_global("leader")
        results[name + "-sees"] = actors.whereis_global("leader")

    async def b_body() -> None:
        await racer("b")
        b_done.set()
        await forever()

    async with trio.open_nursery() as nursery:
        async with actors.node(name="a", cluster=redis_url, cookie=COOKIE, **FAST):
            await start_node(nursery, "b", redis_url, b_body)
            await racer("a")
            await b_done.wait()
            assert sorted([results["a"], results["b"]]) == [False, True]
            assert results["a-sees"] == results["b-sees"]
            winner = results["a-sees"]
            assert winner.node == ("a" if results["a"] else "b")
            assert actors.whereis_global("leader") == winner
        nursery.cancel_scope.cancel()


async def test_a_global_name_is_freed_when_its_owner_dies(redis_url: str) -> None:
    async def owner() -> None:
        assert await actors.register_global("db")
        actors.send(("a-main", "a"), "registered")
        await actors.receive("die")

    async def b_body() -> None:
        ref = actors.monitor(actors.spawn(owner))
        await actors.receive(Down(ref, ANY, ANY))
        # the owner's node frees the name before anyone registers it again
        assert await actors.register_global("db")
        actors.send(("a-main", "a"), "re-registered")
        await forever()

    async with trio.open_nursery() as nursery:
        async with actors.node(name="a", cluster=redis_url, cookie=COOKIE, **FAST):
            actors.register("a-main")
            await start_node(nursery, "b", redis_url, b_body)
            await assert_receive("registered", timeout=5)
            first = actors.whereis_global("db")
            assert first is not None
            assert first.node == "b"
            assert not await actors.register_global("db")  # taken
            actors.send(actors.Global("db"), "die")
            await assert_receive("re-registered", timeout=5)
            second = actors.whereis_global("db")
            assert second is not None
            assert second.node == "b"
            assert second != first
        nursery.cancel_scope.cancel()


async def test_groups_span_nodes_and_a_dead_nodes_members_vanish(redis_url: str) -> None:
    stop_b = trio.Event()

    async def b_body() -> None:
        member = actors.spawn(forever)
        actors.join("room", member)
        actors.join("room")
        actors.join("room")  # twice: a member twice
        actors.send(("a-main", "a"), ("joined", member))
        await stop_b.wait()

    async with trio.open_nursery() as nursery:
        async with actors.node(name="a", cluster=redis_url, cookie=COOKIE, **FAST):
            actors.register("a-main")
            actors.join("room")
            await start_node(nursery, "b", redis_url, b_body)
            _, member = await assert_receive(("joined", ANY), timeout=5)
            everyone = actors.members("room")
            assert everyone[0] == actors.self()
            assert len(everyone) == 4
            assert member in everyone
            assert actors.members("room", local=True) == [actors.self()]
            actors.monitor_node("b")
            stop_b.set()
            await assert_receive(NodeDown("b"), timeout=5)
            assert actors.members("room") == [actors.self()]
        nursery.cancel_scope.cancel()


async def test_a_node_with_the_wrong_cookie_can_neither_send_nor_be_reached(
    redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    async def intruder() -> None:
        actors.send(("sink", "b"), ("n", "from the intruder"))
        actors.send(("a-main", "a"), "from the intruder")
        await forever()

    async with trio.open_nursery() as nursery:
        await start_node(nursery, "b", redis_url, sink)
        async with actors.node(name="a", cluster=redis_url, cookie=COOKIE, **FAST):
            actors.register("a-main")
            await start_node(nursery, "evil", redis_url, intruder, cookie="guessed")
            actors.send(("sink", "b"), ("report", actors.self()))
            # a message from a to evil is dropped by evil just the same
            actors.send(("nobody", "evil"), "for evil")
            assert await assert_receive(("got", ANY), timeout=5) == ("got", [])
            await refute_receive("from the intruder", timeout=0.5)
        nursery.cancel_scope.cancel()
    assert "not signed with this cluster's cookie" in caplog.text


async def test_a_forged_or_unsafe_message_is_dropped_and_logged_never_run(
    redis_url: str, caplog: pytest.LogCaptureFixture, tmp_path: Any
) -> None:
    import os
    import pickle

    import coredis

    from actors import _entries

    marker = tmp_path / "ran"

    class Evil:
        def __reduce__(self) -> Any:
            return (os.system, (f"touch {marker}",))

    async with actors.node(name="a", cluster=redis_url, cookie=COOKIE, **FAST) as this:
        me = actors.self()
        key = COOKIE.encode()
        head = _entries.Head(_entries.VERSION, "mallory", 1, "a", this.creation, 1, 0)
        ok = _entries.send_frame(me._number, pickle.dumps("ok"))
        evil = _entries.control_frame(pickle.dumps(("send_name", "x", Evil())))
        unsigned = b"\0" * 32 + _entries.pack(key, head, [ok])[32:]
        signed = _entries.pack(key, head, [evil, ok])  # the evil one first: it costs only itself
        client = coredis.Redis.from_url(redis_url)
        async with client:
            for data in (unsigned, b"short", signed):
                await client.xadd("actors:inbox:a", {"m": data})
        assert await assert_receive(timeout=5) == "ok"  # the one good message, and only it
        await refute_receive(timeout=0.2)
    assert not marker.exists()
    assert "bad signature" in caplog.text
    assert "posix.system is not allowed" in caplog.text or "os.system" in caplog.text


async def test_a_full_outbox_is_a_disconnect_then_held_pids_work_again(
    redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    async with trio.open_nursery() as nursery:
        await start_node(nursery, "b", redis_url, sink_node)
        opts = {**FAST, "max_outbox": 100}
        async with actors.node(name="a", cluster=redis_url, cookie=COOKIE, **opts):
            actors.send(("sink", "b"), ("hello", actors.self()))
            _, remote = await assert_receive(("sink", ANY))
            actors.trap_exits()
            actors.link(remote)
            for i in range(1000):  # no checkpoint: the sender task cannot run meanwhile
                actors.send(remote, ("n", i))
            # the outbox refused the 101st: the connection ends, and says so
            assert await assert_receive(Exit(remote, ANY), timeout=5) == Exit(
                remote, "noconnection"
            )
            assert "its outbox is full (100 messages" in caplog.text
            await wait_node("b")
            actors.send(remote, ("report", actors.self()))
            _, got = await assert_receive(("got", ANY), timeout=10)
            assert got == []  # all of them were lost, with the disconnect
            actors.send(remote, ("n", "after"))
            actors.send(remote, ("report", actors.self()))
            assert await assert_receive(("got", ANY), timeout=10) == ("got", ["after"])
        nursery.cancel_scope.cancel()


async def test_a_message_too_big_or_that_cannot_travel_is_refused_at_send(
    redis_url: str,
) -> None:
    async def indexes() -> None:
        """Keeps the index of each ("n", (i, payload)); reports them."""
        actors.register("indexes")
        got = []
        while True:
            match await actors.receive():
                case ("n", (i, _)):
                    got.append(i)
                case ("report", pid):
                    actors.send(pid, ("got", got))

    async with trio.open_nursery() as nursery:
        await start_node(nursery, "b", redis_url, indexes)
        opts = {**FAST, "max_entry": 100_000}
        async with actors.node(name="a", cluster=redis_url, cookie=COOKIE, **opts):
            await wait_node("b")
            for i in range(50):  # together bigger than an entry: cut in pieces
                actors.send(("indexes", "b"), ("n", (i, b"x" * 10_000)))
            with pytest.raises(ValueError, match="more than max_entry"):
                actors.send(("indexes", "b"), ("n", (50, b"x" * 200_000)))
            with pytest.raises(TypeError, match="cannot send"):
                actors.send(("indexes", "b"), ("n", (51, lambda: None)))
            actors.send(("indexes", "b"), ("n", (52, b"")))
            actors.send(("indexes", "b"), ("report", actors.self()))
            _, got = await assert_receive(("got", ANY), timeout=10)
            assert got == [*range(50), 52]
        nursery.cancel_scope.cancel()


async def test_the_outbox_is_bounded_in_bytes_too(
    redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    async with trio.open_nursery() as nursery:
        await start_node(nursery, "b", redis_url, sink_node)
        opts = {**FAST, "max_outbox_bytes": 1024 * 1024}
        async with actors.node(name="a", cluster=redis_url, cookie=COOKIE, **opts):
            actors.send(("sink", "b"), ("hello", actors.self()))
            _, remote = await assert_receive(("sink", ANY))
            actors.trap_exits()
            actors.link(remote)
            for i in range(200):  # 20 MB, no checkpoint: a few fit, then it is full
                actors.send(remote, ("n", (i, b"x" * 100_000)))
            assert await assert_receive(Exit(remote, ANY), timeout=5) == Exit(
                remote, "noconnection"
            )
            assert "max_outbox_bytes 1048576" in caplog.text
        nursery.cancel_scope.cancel()


async def test_an_entry_of_another_wire_version_is_refused_and_logged(
    redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    import coredis

    from actors import _entries

    async with actors.node(name="a", cluster=redis_url, cookie=COOKIE, **FAST) as this:
        me = actors.self()
        head = _entries.Head(_entries.VERSION + 1, "later", 1, "a", this.creation, 1, 0)
        entry = _entries.pack(COOKIE.encode(), head, [_entries.send_frame(me._number, b"")])
        client = coredis.Redis.from_url(redis_url)
        async with client:
            await client.xadd("actors:inbox:a", {"m": entry})
        await refute_receive(timeout=0.5)
    assert (
        f"wire version {_entries.VERSION + 1}, this node speaks {_entries.VERSION}" in caplog.text
    )


@pytest.mark.parametrize("name", ["sink", "évier-シンク", "n" * 200, ("a", "tuple", 1)])
async def test_a_name_on_another_node_is_any_name_a_local_one_can_be(
    redis_url: str, name: object
) -> None:
    registered = trio.Event()

    async def named() -> None:
        while True:
            match await actors.receive():
                case ("hello", pid):
                    actors.send(pid, ("named", name))

    async def b_body() -> None:
        actors.spawn(named, name=name)
        registered.set()
        await forever()

    async with trio.open_nursery() as nursery:
        await start_node(nursery, "b", redis_url, b_body)
        await registered.wait()
        async with actors.node(name="a", cluster=redis_url, cookie=COOKIE, **FAST):
            actors.send((name, "b"), ("hello", actors.self()))
            assert await assert_receive(("named", ANY), timeout=5) == ("named", name)
        nursery.cancel_scope.cancel()
