"""Erlang's distribution promises, kept under the faults every deployment
meets, with real OS processes and a real Redis: a clean exit, a second
instance started by mistake, kill -9 and a restart, a stall past the TTL
(SIGSTOP), Redis restarting mid-stream, a receiver kept behind, a netsplit
with a global name taken on both sides, a bad message between two good
ones. In the spirit of OTP's global_SUITE and pg_SUITE and of Phoenix's
tracker tests: each test names the promise it checks (DESIGN.md, "Beyond
one machine")."""

from __future__ import annotations

import signal
import time
from typing import Any

import pytest
import trio

import actors
from actors import ANY, Down, Exit, NodeDown
from actors.testing import assert_receive, refute_receive, wait_node
from tests.cluster_helpers import COOKIE, FAST, Agent, agent_node
from tests.conftest import RedisServer

OPTIONS = ("heartbeat=0.1", "missed=3")  # an agent is down 0.3 s after its last beat
TTL = FAST["heartbeat"] * FAST["missed"]

pytestmark = pytest.mark.timeout(90)


def node(url: str, name: str = "a", **options: Any) -> Any:
    return actors.node(name=name, cluster=url, cookie=COOKIE, **{**FAST, **options})


async def pid_of(agent: Agent, name: str = "echo") -> actors.Pid:
    """A Pid of the agent's process registered as `name`."""
    actors.send((name, agent.name), ("ping", actors.self(), name))
    _, pid, _ = await assert_receive(("pong", ANY, name), timeout=10)
    assert isinstance(pid, actors.Pid)
    return pid


async def echoes(pid: actors.Pid, timeout: float = 10) -> bool:
    """Whether `pid` (an echo) answers a ping within `timeout`."""
    actors.send(pid, ("ping", actors.self(), "again"))
    try:
        await actors.receive(("pong", pid, "again"), timeout=timeout)
    except actors.ReceiveTimeout:
        return False
    return True


# -- leaving ------------------------------------------------------------------------


async def test_a_clean_exit_is_seen_within_a_second_and_frees_the_name_at_once(
    redis_url: str,
) -> None:
    slow = ("heartbeat=1", "missed=5")  # a TTL of 5 s: only a real leave is seen in 1 s
    async with node(redis_url, heartbeat=1, missed=5):
        async with agent_node("b", redis_url, *slow) as b:
            await wait_node("b")
            echo = await pid_of(b)
            actors.trap_exits()
            actors.link(echo)
            ref = actors.monitor(echo)
            actors.monitor_node("b")
            started = trio.current_time()
            await b.ask("stop")
            await assert_receive(NodeDown("b"), timeout=5)
            seen = trio.current_time() - started
            assert await assert_receive(Down(ref, echo, ANY)) == Down(ref, echo, "noconnection")
            assert await assert_receive(Exit(echo, ANY)) == Exit(echo, "noconnection")
            with trio.fail_after(5):
                assert await b.process.wait() == 0
        assert seen < 1.0, f"the others saw the exit after {seen:.2f} s"
        # the name is free at once: a new b joins without waiting for a TTL
        started = trio.current_time()
        async with agent_node("b", redis_url, *slow) as again:
            await wait_node("b")
            assert trio.current_time() - started < 4.0
            assert await echoes(await pid_of(again))


async def test_a_refused_duplicate_start_changes_nothing_of_the_live_node(
    redis_url: str,
) -> None:
    async with node(redis_url), agent_node("b", redis_url, *OPTIONS) as b:
        await wait_node("b")
        echo = await pid_of(b)
        actors.trap_exits()
        actors.link(echo)
        ref = actors.monitor(echo)
        for i in range(100):  # waiting in b's sink, unread by anyone yet
            actors.send(("sink", "b"), ("n", i))
        async with agent_node("b", redis_url, *OPTIONS, ready=False) as twin:
            line = await twin.wait_line("refused", timeout=20)
            assert "taken by a live node" in line
            with trio.fail_after(10):
                assert await twin.process.wait() == 3
        # b is untouched: nothing fired, its messages are all there, it still answers
        await refute_receive(Down(ref, ANY, ANY), timeout=3 * TTL)
        await refute_receive(Exit(echo, ANY), timeout=0)
        assert actors.nodes() == ["b"]
        actors.send(("sink", "b"), ("report", actors.self()))
        assert await assert_receive(("got", ANY), timeout=10) == ("got", list(range(100)))
        assert await echoes(echo)


async def test_kill_9_then_a_restart_leaves_old_pids_noproc_and_their_names_free(
    redis_url: str,
) -> None:
    async with node(redis_url):
        async with agent_node("b", redis_url, *OPTIONS) as b:
            await wait_node("b")
            assert await b.ask("register_global", "svc") is True
            old = await pid_of(b)
            actors.trap_exits()
            actors.link(old)
            ref = actors.monitor(old)
            b.signal(signal.SIGKILL)
            assert await assert_receive(Down(ref, old, ANY), timeout=10) == Down(
                ref, old, "noconnection"
            )
            assert await assert_receive(Exit(old, ANY)) == Exit(old, "noconnection")
        async with agent_node("b", redis_url, *OPTIONS) as b2:
            await wait_node("b")
            new = await pid_of(b2)
            assert new != old
            # the old life's Pids are dead for good
            ref = actors.monitor(old)
            assert await assert_receive(Down(ref, old, ANY)) == Down(ref, old, "noproc")
            actors.link(old)
            assert await assert_receive(Exit(old, ANY)) == Exit(old, "noproc")
            # and its global name is free
            assert actors.whereis_global("svc") is None
            assert await b2.ask("register_global", "svc") is True


# -- failure: both sides see a disconnect --------------------------------------------


async def test_a_stall_past_the_ttl_is_reported_on_both_sides_and_held_pids_work_after(
    redis_url: str,
) -> None:
    async with node(redis_url), agent_node("b", redis_url, *OPTIONS) as b:
        await wait_node("b")
        echo = await pid_of(b, "watcher")  # it traps exits: a link's noconnection spares it
        me = actors.self()
        actors.trap_exits()
        actors.link(echo)
        ref = actors.monitor(echo)
        await b.ask("link", me)
        await b.ask("monitor", me)
        await b.ask("monitor_node", "a")
        mark = len(b.lines)
        b.signal(signal.SIGSTOP)
        assert await assert_receive(Down(ref, echo, ANY), timeout=10) == Down(
            ref, echo, "noconnection"
        )
        assert await assert_receive(Exit(echo, ANY)) == Exit(echo, "noconnection")
        assert "b" not in actors.nodes()
        b.signal(signal.SIGCONT)
        # b learns it was cut off, and fires its own side
        where = f"a/{me._number}"
        assert await b.wait_line(f"exit {where} noconnection", after=mark)
        assert await b.wait_line(f"down {where} noconnection", after=mark)
        assert await b.wait_line("nodedown a", after=mark)
        # then they reconnect, and the Pid held across it works again
        await wait_node("b", timeout=10)
        assert await echoes(echo)
        actors.link(echo)
        await refute_receive(Exit(echo, ANY), timeout=3 * TTL)


async def test_a_stalled_node_does_not_flap_once_it_is_back(redis_url: str) -> None:
    async with node(redis_url), agent_node("b", redis_url, *OPTIONS) as b:
        await wait_node("b")
        echo = await pid_of(b)
        b.signal(signal.SIGSTOP)
        await trio.sleep(4 * TTL)  # the stall itself, not a wait for an event
        b.signal(signal.SIGCONT)
        await wait_node("b", timeout=10)
        assert await echoes(echo)
        actors.monitor_node("b")
        await refute_receive(NodeDown("b"), timeout=10 * TTL)


async def test_nodes_with_different_heartbeats_judge_each_other_by_their_own(
    redis_url: str,
) -> None:
    """Each heartbeat says its node's TTL: a node beating once a second is
    not taken for down by one that expects a beat every 0.1 s."""
    async with node(redis_url, heartbeat=1, missed=3), agent_node("b", redis_url, *OPTIONS) as b:
        await wait_node("b")
        actors.monitor_node("b")
        mark = len(b.lines)
        await b.ask("monitor_node", "a")
        await refute_receive(NodeDown("b"), timeout=2.5)  # many of b's own TTLs
        assert not any(line.startswith("nodedown") for line in b.lines[mark:])
        assert await echoes(await pid_of(b))


# -- delivery: in order, at most once, a loss only with a reported disconnect -------------


async def flood(dest: Any, count: int, pace: int) -> list[int]:
    """Send ("n", i) for i < count to `dest` (held as a Pid), linked and
    trapping; relink after each disconnect. The send index at which each
    "noconnection" arrived."""
    actors.trap_exits()
    actors.link(dest)
    reported: list[int] = []
    for i in range(count):
        actors.send(dest, ("n", i))
        if i % pace == 0:
            await trio.sleep(0.001)  # a paced load, so entries are many and small
            while True:
                try:
                    _ = await actors.receive(Exit(dest, "noconnection"), timeout=0)
                except actors.ReceiveTimeout:
                    break
                reported.append(i)
                actors.link(dest)  # a new link, on the new connection
    return reported


def check_delivery(got: list[int], sent: int, reported: list[int]) -> list[int]:
    """In order, never twice, and every lost message sent before some
    reported disconnect. The lost ones."""
    assert got == sorted(set(got)), "out of order or duplicated"
    lost = sorted(set(range(sent)) - set(got))
    last = max(reported, default=-1)
    assert all(i <= last for i in lost), f"lost {lost[:10]}... with no disconnect after them"
    return lost


async def report(sink: actors.Pid, reported: list[int], sent: int) -> list[int]:
    """What the sink got; a disconnect reported since the flood's end
    counts as after its last message."""
    await wait_node(sink.node, timeout=20)
    actors.send(sink, ("report", actors.self()))
    _, got = await assert_receive(("got", ANY), timeout=20)
    while True:
        try:
            await actors.receive(Exit(sink, "noconnection"), timeout=0)
        except actors.ReceiveTimeout:
            return list(got)
        reported.append(sent)


async def test_redis_restarting_mid_stream_loses_nothing_in_silence() -> None:
    redis = RedisServer()
    url = redis.url(0)
    try:
        async with node(url), agent_node("b", url, *OPTIONS) as b:
            await wait_node("b")
            sink = await pid_of(b, "sink")

            async def restart_redis() -> None:
                await trio.sleep(0.3)
                redis.stop()
                await trio.sleep(0.3)
                redis.start()

            async with trio.open_nursery() as nursery:
                nursery.start_soon(restart_redis)
                reported = await flood(sink, 3000, 10)
            got = await report(sink, reported, 3000)
            lost = check_delivery(got, 3000, reported)
            assert reported, "Redis restarted: the link must have said noconnection"
            assert got, "nothing arrived"
            assert not lost or reported
    finally:
        redis.stop()


async def test_a_receiver_kept_behind_past_its_stream_length_is_a_disconnect_not_a_gap(
    redis_url: str,
) -> None:
    # A long TTL: b is not taken for down while it stalls, only too slow.
    slow = ("heartbeat=0.5", "missed=20", "stream_maxlen=5")
    async with node(redis_url, heartbeat=0.5, missed=20), agent_node("b", redis_url, *slow) as b:
        await wait_node("b")
        sink = await pid_of(b, "sink")

        async def stall_b() -> None:
            b.signal(signal.SIGSTOP)
            await trio.sleep(1.0)
            b.signal(signal.SIGCONT)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(stall_b)
            reported = await flood(sink, 2000, 5)
        got = await report(sink, reported, 2000)
        lost = check_delivery(got, 2000, reported)
        assert reported, "b's inbox filled up: that is a disconnect"
        assert lost, "and messages were lost with it"


class NotAllowed:
    """Pickles here (by its module path); b cannot decode it: it is not in
    b's allow-list."""


async def test_a_bad_message_between_two_good_ones_costs_only_itself(redis_url: str) -> None:
    async with node(redis_url), agent_node("b", redis_url, *OPTIONS) as b:
        await wait_node("b")
        sink = await pid_of(b, "sink")
        actors.send(sink, ("n", 1))  # the three in one entry: no checkpoint between
        actors.send(sink, ("n", NotAllowed()))
        actors.send(sink, ("n", 2))
        assert await report(sink, [], 0) == [1, 2]


# -- global names ------------------------------------------------------------------


async def test_a_netsplit_with_a_global_name_taken_on_both_sides_leaves_the_first_owner(
    redis_url: str,
) -> None:
    async def contender() -> None:
        assert await actors.register_global("leader")
        actors.send(("a-main", "a"), ("registered", actors.self()))
        actors.send(("a-main", "a"), await actors.receive(("global_name_conflict", ANY, ANY)))

    async with node(redis_url), agent_node("b", redis_url, *OPTIONS) as b:
        actors.register("a-main")
        await wait_node("b")
        assert await b.ask("register_global", "leader") is True  # the first registration
        first = actors.whereis_global("leader")
        assert first is not None
        assert first.node == "b"
        b.signal(signal.SIGSTOP)
        actors.monitor_node("b")
        await assert_receive(NodeDown("b"), timeout=10)
        assert actors.whereis_global("leader") is None  # freed with its node
        mine = actors.spawn(contender)
        await assert_receive(("registered", mine), timeout=10)
        assert actors.whereis_global("leader") == mine
        mark = len(b.lines)
        b.signal(signal.SIGCONT)
        # after the heal: the loser is told and unregistered, on both sides
        assert await assert_receive(("global_name_conflict", "leader", ANY), timeout=15) == (
            "global_name_conflict",
            "leader",
            first,
        )
        assert actors.whereis_global("leader") == first
        assert await b.ask("whereis_global", "leader") == first
        assert not any(line.startswith("conflict") for line in b.lines[mark:])


async def test_global_names_live_through_a_redis_restart(redis_url: str) -> None:
    """Redis forgets every key when it restarts; each node asserts its names
    again once back, so whereis_global answers as before."""
    redis = RedisServer()
    url = redis.url(0)
    try:
        async with node(url), agent_node("b", url, *OPTIONS) as b:
            await wait_node("b")
            assert await b.ask("register_global", "db") is True
            owner = actors.whereis_global("db")
            assert owner is not None
            actors.monitor_node("b")
            redis.stop()
            await assert_receive(NodeDown("b"), timeout=10)
            redis.start()
            await wait_node("b", timeout=20)
            await actors.lowlevel.sync_cluster()
            assert actors.whereis_global("db") == owner
            assert not await actors.register_global("db")  # still b's, in Redis too
    finally:
        redis.stop()


# -- shutdown and options ------------------------------------------------------------


async def test_the_first_process_linked_to_a_remote_one_exits_noconnection_not_a_crash(
    redis_url: str,
) -> None:
    async with agent_node("b", redis_url, *OPTIONS) as b:
        with pytest.raises(actors.ProcessExit) as raised:
            async with node(redis_url):
                await wait_node("b")
                actors.link(await pid_of(b))
                b.signal(signal.SIGKILL)
                await actors.receive("never comes")
        assert raised.value.reason == "noconnection"


async def test_a_node_that_ends_holding_a_global_name_exits_cleanly_and_frees_it(
    redis_url: str, capfd: pytest.CaptureFixture[str]
) -> None:
    async with node(redis_url):
        async with agent_node("b", redis_url, *OPTIONS) as b:
            await wait_node("b")
            assert await b.ask("register_global", "db") is True
            await b.ask("stop")
            with trio.fail_after(10):
                assert await b.process.wait() == 0
        assert "Nursery is closed" not in capfd.readouterr().err
        assert actors.whereis_global("db") is None
        assert await actors.register_global("db")  # free at once, not after a TTL


def test_an_unknown_cluster_option_is_a_type_error_at_once(redis_url: str) -> None:
    started = time.monotonic()
    with pytest.raises(TypeError, match="bogus"):
        actors.run(trio.sleep, 0, node="a", cluster=redis_url, cookie=COOKIE, bogus=1)
    with pytest.raises(TypeError, match="did you mean 'heartbeat'"):
        actors.run(trio.sleep, 0, node="a", cluster=redis_url, cookie=COOKIE, heartbeats=1)
    assert time.monotonic() - started < 5


# -- the wire across releases --------------------------------------------------------


class Adder(actors.GenServer):
    def init(self) -> None:
        self.total = 0

    def handle_call(self, request: Any, from_: actors.From) -> Any:
        if request == "crash":
            raise ValueError("crashed on purpose")
        self.total += request
        return (actors.node_name(), self.total)


@pytest.mark.parametrize("module", ["actors._gen_server", "actors._errors", "actors._ids"])
async def test_nodes_whose_private_modules_moved_still_talk(redis_url: str, module: str) -> None:
    """The wire names what it carries by stable tags, never by module path:
    a node of a release whose files moved talks with this one."""
    async with (
        node(redis_url),
        agent_node("b", redis_url, *OPTIONS, env={"AGENT_MOVE": module}) as b,
    ):
        await Adder.start(name="adder")
        await wait_node("b")
        assert await actors.call(("counter", "b"), 2) == ("b", 2)  # From, the call marker
        assert await b.ask("call", ("adder", "a"), 5) == ("a", 5)
        with pytest.raises(actors.CallExit) as raised:  # a reason, an error
            await actors.call(("nobody", "b"), 1)
        assert raised.value.reason == "noproc"
        watcher = await pid_of(b, "watcher")
        actors.trap_exits()
        actors.link(watcher)
        actors.exit(watcher, "kill")  # the Exit comes back: a tagged NamedTuple
        assert await assert_receive(Exit(watcher, ANY)) == Exit(watcher, "killed")
