"""Cluster nodes as real OS processes: one killed with SIGKILL, and Redis
itself stopped and started again under two running nodes."""

from __future__ import annotations

import os
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import trio

import actors
from actors import ANY, Down, Exit, NodeDown
from actors.testing import assert_receive, refute_receive, wait_node
from tests.cluster_helpers import COOKIE, FAST, os_program
from tests.conftest import RedisServer

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = FAST["heartbeat"] * FAST["missed"]  # a node is down this long after its last beat


@asynccontextmanager
async def os_node(name: str, url: str) -> AsyncIterator[trio.Process]:
    """Run tests/cluster_node.py as node `name`; yield once it has joined."""
    async with os_program("cluster_node", name, url, stop="kill") as (process, line):
        assert line.strip() == b"ready", line
        yield process


async def echo_pid(node: str) -> actors.Pid:
    """Ask node's "echo" for its Pid (by name), from a new process."""
    main = actors.self()

    async def ask() -> None:
        actors.send(("echo", node), ("ping", actors.self(), "hello"))
        actors.send(main, await actors.receive(("pong", ANY, "hello")))

    actors.spawn(ask)
    _, pid, _ = await assert_receive(("pong", ANY, "hello"), timeout=10)
    assert isinstance(pid, actors.Pid)
    return pid


async def test_kill_9_of_a_node_is_noconnection_within_the_heartbeat_bound(
    redis_url: str,
) -> None:
    async with (
        os_node("victim", redis_url) as victim,
        actors.node(name="a", cluster=redis_url, cookie=COOKIE, **FAST),
    ):
        await wait_node("victim")
        remote = await echo_pid("victim")
        actors.trap_exits()
        actors.link(remote)
        ref = actors.monitor(remote)
        actors.monitor_node("victim")
        killed_at = trio.current_time()
        os.kill(victim.pid, signal.SIGKILL)
        assert await assert_receive(NodeDown("victim"), timeout=10) == NodeDown("victim")
        detected = trio.current_time() - killed_at
        assert await assert_receive(Down(ref, remote, ANY)) == Down(ref, remote, "noconnection")
        assert await assert_receive(Exit(remote, ANY)) == Exit(remote, "noconnection")
        # its key expires TIMEOUT after its last beat; a check runs every beat
        assert detected <= 2 * TIMEOUT + 1.0, f"took {detected:.2f} s"
        assert actors.nodes() == []


async def test_nodes_rejoin_after_redis_restarts_and_held_pids_work_again() -> None:
    redis = RedisServer()  # its own: this test stops it
    url = redis.url(0)
    try:
        async with os_node("b", url), actors.node(name="a", cluster=url, cookie=COOKIE, **FAST):
            await wait_node("b")
            before = await echo_pid("b")
            actors.monitor_node("b")
            redis.stop()
            # a keeps running alone; b is down for it
            await assert_receive(NodeDown("b"), timeout=10)
            assert actors.nodes() == []
            redis.start()
            await wait_node("b", timeout=30)
            # the nodes kept their creations: the Pids held across it work again
            assert await echo_pid("b") == before
            actors.send(before, ("ping", actors.self(), "held"))
            assert await assert_receive(("pong", before, "held"), timeout=10)
            ref = actors.monitor(before)
            await refute_receive(Down(ref, ANY, ANY), timeout=0.5)
    finally:
        redis.stop()


async def test_a_redis_password_goes_in_the_url_and_a_wrong_one_fails_the_join() -> None:
    redis = RedisServer("--requirepass", "s3cret")
    try:
        good = f"redis://:s3cret@127.0.0.1:{redis.port}/0"
        async with actors.node(name="a", cluster=good, cookie=COOKIE, **FAST):
            assert actors.node_name() == "a"
        bad = f"redis://:guess@127.0.0.1:{redis.port}/0"
        with pytest.raises(actors.ClusterError, match="cannot join the cluster") as raised:
            async with actors.node(name="b", cluster=bad, cookie=COOKIE, **FAST):
                pass
        assert "guess" not in str(raised.value)  # the password is not in the message
    finally:
        redis.stop()


async def test_a_second_node_with_a_live_nodes_name_is_refused(redis_url: str) -> None:
    async with actors.node(name="a", cluster=redis_url, cookie=COOKIE, **FAST):
        with pytest.raises(actors.ClusterError, match="taken by a live node"):
            async with actors.node(name="a", cluster=redis_url, cookie=COOKIE, **FAST):
                pass
