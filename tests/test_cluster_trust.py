"""Trust nothing inside: what anyone who can write to the cluster's Redis
writes, without the cookie (or with it, for the decode bounds), never
crashes a node, never makes it believe a forgery, never delivers a message
twice, and each bad thing is logged once (DESIGN.md, the "trust" row)."""

from __future__ import annotations

import hashlib
import logging
import pickle
import signal
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import coredis
import pytest
import trio
import trio.lowlevel

import actors
from actors import ANY, _cluster_scripts, _entries
from actors._beats import parse_beat
from actors.testing import assert_receive, drain, wait_node
from tests.cluster_helpers import COOKIE, FAST, agent_node, start_node

pytestmark = pytest.mark.timeout(90)

KEY = COOKIE.encode()
SEND_SHA = hashlib.sha1(_cluster_scripts.SEND.encode(), usedforsecurity=False).hexdigest()
Attack = Callable[[Any, trio.Event], Awaitable[None]]


async def sink() -> None:
    """Registered "sink": keeps each ("n", x), reports them; answers pings."""
    actors.register("sink")
    got: list[Any] = []
    while True:
        match await actors.receive():
            case ("n", x):
                got.append(x)
            case ("report", pid):
                actors.send(pid, ("got", got))
            case ("ping", pid):
                actors.send(pid, ("pong", actors.self()))


async def talking(node: str = "b") -> actors.Pid:
    """A round trip to `node`'s sink works; its Pid."""
    await wait_node(node, timeout=10)
    actors.send(("sink", node), ("ping", actors.self()))
    _, pid = await assert_receive(("pong", ANY), timeout=10)
    assert isinstance(pid, actors.Pid)
    return pid


def complaints(caplog: pytest.LogCaptureFixture, text: str) -> int:
    return sum(text in record.getMessage() for record in caplog.records)


class Logged(logging.Handler):
    """Sets an event once a record of logger "actors" holds `text`."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text
        self.event = trio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if self.text in record.getMessage():
            self.event.set()

    async def wait(self, timeout: float = 10) -> None:
        logger = logging.getLogger("actors")
        logger.addHandler(self)
        try:
            with trio.fail_after(timeout):
                await self.event.wait()
        finally:
            logger.removeHandler(self)


async def keep_at_it(
    step: Callable[[], Awaitable[None]], noticed: trio.Event, at_most: float = 10.0
) -> None:
    """Do `step` again and again until `noticed` is set (or for `at_most`
    seconds): an attacker who keeps at it. A loaded node may read its keys
    seldom; one that never notices fails the test's own wait."""
    with trio.move_on_after(at_most):
        while not noticed.is_set():
            await step()
            await trio.sleep(0.02)


# -- garbage in every key ---------------------------------------------------------


async def names_that_are_not_names(redis: Any, noticed: trio.Event) -> None:
    await redis.sadd("actors:nodes", [b"\xff\xfe", b"x" * 300, b"tab\there"])


async def a_fake_node(redis: Any, noticed: trio.Event) -> None:
    await redis.sadd("actors:nodes", ["evil"])
    await keep_at_it(lambda: redis.set("actors:node:evil", "not-a-number"), noticed)


async def a_heartbeat_overwritten(redis: Any, noticed: trio.Event) -> None:
    await redis.set("actors:node:b", "0:garbage")


async def a_forged_creation(redis: Any, noticed: trio.Event, at_most: float = 10.0) -> None:
    value = await redis.get("actors:node:b")
    assert value is not None
    beat = parse_beat(KEY, "b", value)
    assert beat is not None
    flags = "h" if beat.hidden else ""
    forged = f"{beat.creation * 1000}:{flags}:{beat.number}:{beat.ttl_ms}:{'0' * 32}"
    await keep_at_it(lambda: redis.set("actors:node:b", forged), noticed, at_most)


async def garbage_entries(redis: Any, noticed: trio.Event) -> None:
    await redis.xadd("actors:inbox:b", {"m": b"garbage"})
    await redis.xadd("actors:inbox:b", {"m": b"\0" * 200})
    await redis.xadd("actors:inbox:b", {"other": b"field"})


async def wrong_types(redis: Any, noticed: trio.Event) -> None:
    await redis.delete(["actors:nodes"])
    await redis.set("actors:nodes", "a string")
    await redis.delete(["actors:inbox:b"])
    await redis.set("actors:inbox:b", "a string")
    await redis.set("actors:globals:b", "a string")


@pytest.mark.parametrize(
    ("attack", "logged"),
    [
        (names_that_are_not_names, "skipped a node name that is not one"),
        (a_fake_node, "skipped the heartbeat of evil"),
        (a_heartbeat_overwritten, "0:garbage"),  # a skips it, or b rewrites it first
        (a_forged_creation, "skipped the heartbeat of b"),
        (garbage_entries, "dropped an inbox entry"),
        (wrong_types, "not a set; removed it"),
    ],
)
async def test_garbage_written_to_any_key_leaves_every_node_up_and_talking(
    redis_url: str, caplog: pytest.LogCaptureFixture, attack: Attack, logged: str
) -> None:
    async with trio.open_nursery() as nursery:
        await start_node(nursery, "b", redis_url, sink)
        async with actors.node(name="a", cluster=redis_url, cookie=COOKIE, **FAST):
            before = await talking()
            actors.monitor_node("b")
            redis = coredis.Redis.from_url(redis_url)
            seen = Logged(logged)
            async with redis, trio.open_nursery() as watch:
                watch.start_soon(seen.wait)
                await attack(redis, seen.event)
                await seen.event.wait()  # a node noticed (fail_after bounds it)
                after = await talking()
                assert after == before  # the same life of b: no restart, no new creation
                assert actors.nodes() == ["b"]
                assert await redis.xlen("actors:inbox:evil") == 0  # nobody writes to a fake
        nursery.cancel_scope.cancel()
    said = Counter(r.getMessage() for r in caplog.records if logged in r.getMessage())
    assert said, f"nothing said {logged!r}"
    assert max(said.values()) <= 2, f"logged once by each node, not once per sight: {said}"
    assert "Traceback" not in caplog.text


async def test_a_forged_creation_never_splits_two_nodes(redis_url: str) -> None:
    async with trio.open_nursery() as nursery:
        await start_node(nursery, "b", redis_url, sink)
        async with actors.node(name="a", cluster=redis_url, cookie=COOKIE, **FAST):
            pid = await talking()
            redis = coredis.Redis.from_url(redis_url)
            async with redis:
                # for 3 s: a may take b for down meanwhile
                await a_forged_creation(redis, trio.Event(), at_most=3.0)
            assert await talking() == pid  # but it heals, and b is the same life
            actors.send(pid, ("n", "after the forgery"))
            actors.send(pid, ("report", actors.self()))
            assert await assert_receive(("got", ANY), timeout=5) == ("got", ["after the forgery"])
        nursery.cancel_scope.cancel()


async def test_a_script_flush_costs_no_message_and_no_connection(redis_url: str) -> None:
    # An operator's SCRIPT FLUSH (or a Redis that restarted, or a replica
    # promoted) forgets the send script: the sender sends it whole again.
    async with trio.open_nursery() as nursery:
        await start_node(nursery, "b", redis_url, sink)
        async with actors.node(name="a", cluster=redis_url, cookie=COOKIE, **FAST):
            pid = await talking()
            actors.monitor_node("b")
            redis = coredis.Redis.from_url(redis_url)
            async with redis:
                await redis.script_flush()
                assert await redis.script_exists([SEND_SHA]) == (False,)
                for i in range(3):
                    actors.send(pid, ("n", i))
                actors.send(pid, ("report", actors.self()))
                assert await assert_receive(("got", ANY), timeout=5) == ("got", [0, 1, 2])
                assert await redis.script_exists([SEND_SHA]) == (True,)
            assert await talking() == pid
            assert await drain(actors.NodeDown("b")) == []  # the connection never dropped
        nursery.cancel_scope.cancel()


# -- replays -------------------------------------------------------------------------


async def test_replayed_entries_are_dropped_and_logged_never_delivered_twice(
    redis_url: str, capfd: pytest.CaptureFixture[str]
) -> None:
    # b stopped while a sends: its entries wait unread, and a copy is taken
    # of each; a TTL of 4 s, so that the stop is not a disconnect.
    slow = ("heartbeat=0.2", "missed=20")
    async with (
        actors.node(name="a", cluster=redis_url, cookie=COOKIE, heartbeat=0.2, missed=20),
        agent_node("b", redis_url, *slow) as b,
    ):
        await wait_node("b", timeout=10)
        actors.send(("sink", "b"), ("ping", actors.self(), "sink"))
        _, pid, _ = await assert_receive(("pong", ANY, "sink"), timeout=10)
        redis = coredis.Redis.from_url(redis_url)
        async with redis:
            b.signal(signal.SIGSTOP)
            try:
                for i in range(50):
                    actors.send(pid, ("n", ("deposit", i)))
                    await trio.sleep(0.001)  # a paced sender: several entries
                # b is stopped, so this waits its whole timeout: long enough for
                # everything before it to be written (b answers it later)
                await actors.lowlevel.sync_cluster(timeout=1)
                copied = [
                    entry.field_values[b"m"]
                    for entry in await redis.xrange("actors:inbox:b", "-", "+")
                ]
            finally:
                b.signal(signal.SIGCONT)
            assert len(copied) >= 2  # several entries, each a replay to refuse
            actors.send(pid, ("report", actors.self()))
            await assert_receive(("got", ANY), timeout=10)
            for _ in range(2):
                for data in copied:
                    await redis.xadd("actors:inbox:b", {"m": data})
        actors.send(pid, ("report", actors.self()))
        _, got = await assert_receive(("got", ANY), timeout=10)
        assert got == [("deposit", i) for i in range(50)]
    assert "replayed or out of order" in capfd.readouterr().err  # b's log


# -- decode bombs and oversized entries --------------------------------------------


def peak_rss(pid: int) -> int:
    """The OS process's peak resident memory (VmHWM), in bytes."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


def bomb_payloads() -> list[bytes]:
    """Small pickles that would each build hundreds of MB if decoded as
    plain pickle does."""
    n = 400_000_000
    reduce_ = b"\x80\x04c" + b"builtins\nbytearray\n" + b"J" + n.to_bytes(4, "little") + b"\x85R."
    listed = (
        b"\x80\x04cbuiltins\nlist\ncbuiltins\nrange\nJ"
        + (50_000_000).to_bytes(4, "little")
        + b"\x85R\x85R."
    )
    deque_ = (
        b"\x80\x04ccollections\ndeque\ncbuiltins\nrange\nJ"
        + (50_000_000).to_bytes(4, "little")
        + b"\x85R\x85R."
    )
    sets = b"\x80\x04(" + b"\x8f" * 3_000_000 + b"l."  # 3 M empty sets: ~650 MB
    memo = b"\x80\x04K\x01r" + (1 << 24).to_bytes(4, "little") + b"."  # a 256 MB memo
    bytearray8 = b"\x80\x05\x96" + (1 << 28).to_bytes(8, "little") + b"x."  # 256 MB, whole
    return [reduce_, listed, deque_, sets, memo, bytearray8]


async def test_decode_bombs_and_oversized_entries_stay_within_their_bounds(
    redis_url: str,
) -> None:
    # A TTL of 5 s: this test's own writes of 60 MB hold up node a's loop.
    async with (
        actors.node(name="a", cluster=redis_url, cookie=COOKIE, heartbeat=1, missed=5),
        agent_node("b", redis_url, "heartbeat=1", "missed=5", "max_decoded=8388608") as b,
    ):
        await wait_node("b", timeout=10)
        actors.send(("sink", "b"), ("ping", actors.self(), "sink"))
        _, pid, _ = await assert_receive(("pong", ANY, "sink"), timeout=10)
        redis = coredis.Redis.from_url(redis_url)
        async with redis:
            value = await redis.get("actors:node:b")
            assert value is not None
            beat = parse_beat(KEY, "b", value)
            assert beat is not None
            start = peak_rss(b.process.pid)
            # with the cookie: bombs in signed entries, each its own message
            frames = [_entries.send_frame(pid._number, bomb) for bomb in bomb_payloads()]
            frames.append(_entries.send_frame(pid._number, pickle.dumps(("n", "fine"))))
            head = _entries.Head(_entries.VERSION, "mallory", 1, "b", beat.creation, 1, 0)
            await redis.xadd("actors:inbox:b", {"m": _entries.pack(KEY, head, frames)})
            # without it: six entries of 60 MB each
            for _ in range(6):
                await redis.xadd("actors:inbox:b", {"m": b"\0" * 60_000_000})
            actors.send(pid, ("report", actors.self()))
            assert await assert_receive(("got", ANY), timeout=30) == ("got", ["fine"])
            grown = peak_rss(b.process.pid) - start
        assert grown < 100 * 1024 * 1024, f"the peak RSS grew by {grown >> 20} MiB"


# -- the decoder, fuzzed ---------------------------------------------------------------


def seeds() -> list[bytes]:
    from actors._wire import Encoder

    encoder = Encoder()
    return [
        encoder.encode(value)
        for value in (
            ("n", 1),
            {"a": [1, 2.5, "x"], "b": (b"y", None)},
            actors.Exit(actors.Pid("a", 1, None, 2), ValueError("no")),
            [set(), frozenset({1}), {"k": ()}],
            [b"x" * 66_000, list(range(500))],  # scanned: above SCAN_ABOVE
        )
    ]


def test_the_wire_decoder_turns_any_input_into_a_value_or_a_wire_error() -> None:
    """A few thousand inputs, seeded: random bytes, and valid encodings with
    bytes changed. Each decodes or raises WireError, nothing else, and
    what a decoded value holds stays under the bound."""
    import tracemalloc

    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from actors._wire import Decoder, WireError

    bound = 8 << 20
    decoder = Decoder(lambda node, number, proc, creation: (node, number), bound)
    outcomes = Counter[str]()

    @settings(
        max_examples=3000,
        derandomize=True,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(
        st.one_of(
            st.binary(max_size=300),
            st.tuples(
                st.sampled_from(seeds()),
                st.integers(0, 300),
                st.binary(min_size=1, max_size=8),
            ).map(lambda t: t[0][: t[1]] + t[2] + t[0][t[1] + len(t[2]) :]),
        )
    )
    def decode_anything(data: bytes) -> None:
        tracemalloc.start()
        try:
            value = decoder.decode(data)
            held, _ = tracemalloc.get_traced_memory()
            del value
        except WireError:
            outcomes["refused"] += 1
        else:
            outcomes["decoded"] += 1
            assert held < bound
        finally:
            tracemalloc.stop()

    decode_anything()
    assert outcomes["refused"] > 100
    assert outcomes["decoded"] > 100


DECODE_RANDOMLY = """
import random, sys
from actors._wire import Decoder, WireError
from tests.test_cluster_trust import seeds

def peak():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024

decoder = Decoder(lambda *pid: pid, 8 << 20)
inputs = seeds()
rng = random.Random(1)
open("/proc/self/clear_refs", "w").write("5")
start = peak()
for _ in range(5000):
    data = rng.choice(inputs)
    at = rng.randrange(300)
    noise = rng.randbytes(rng.randrange(1, 9))
    try:
        decoder.decode(data[:at] + noise + data[at + len(noise):])
    except WireError:
        pass
print(peak() - start)
"""


def test_decoding_mangled_messages_never_raises_the_peak_memory_past_the_bound() -> None:
    """The same kind of inputs, in an OS process of its own, where the peak
    RSS says what decoding made the process hold (a truncated length
    prefix makes CPython reserve, never touch, what it announces)."""
    import subprocess
    import sys

    from tests.cluster_helpers import ROOT

    out = subprocess.run(
        [sys.executable, "-c", DECODE_RANDOMLY],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    grown = int(out.stdout.strip())
    assert grown < (8 << 20) + (8 << 20), f"the peak RSS grew by {grown >> 20} MiB"
    assert out.stderr == ""  # not even the interpreter complained of a half-made object
