"""workers=2 in a cluster: each worker is a node of it, so a room spans the
workers (without a cluster, a room is split between them)."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import trio

import actors
from httpserver import _cli
from tests.cluster_helpers import os_program
from tests.conftest import RedisServer
from tests.http_helpers import ROOT, _Running, fetch, python_argv
from tests.ws_helpers import open_ws


@asynccontextmanager
async def app(module: str, redis_url: str) -> AsyncIterator[int]:
    """Run tests.MODULE (a server with workers=2 in a cluster); its port."""
    async with os_program(module, redis_url) as (_, line):
        yield json.loads(line)["port"]


async def test_a_session_follows_its_client_from_worker_to_worker(redis_url: str) -> None:
    async with app("worker_session_app", redis_url) as port:
        first = await fetch(port)
        cookie = first.header("set-cookie")
        assert cookie is not None
        session = cookie.split(";")[0]
        nodes = {first.text.split()[0]}
        count = 1
        assert first.text.split()[1] == "1"
        while len(nodes) < 2 and count < 64:  # new connections: the kernel spreads them
            answer = await fetch(port, headers=[("Cookie", session)])
            node, seen = answer.text.split()
            count += 1
            assert int(seen) == count, answer.text  # one session, whichever worker
            nodes.add(node)
        assert len(nodes) >= 2, "every connection landed on one worker"


async def test_a_room_spans_the_workers_of_a_server_in_a_cluster(redis_url: str) -> None:
    async with app("worker_chat_app", redis_url) as port, AsyncExitStack() as stack:
        first = await stack.enter_async_context(open_ws(port, "/"))
        here = str(await first.receive()).removeprefix("node ")
        assert await first.receive() == f"joined {here}"
        for _ in range(64):  # the kernel spreads connections over the workers
            ws = await stack.enter_async_context(open_ws(port, "/"))
            there = str(await ws.receive()).removeprefix("node ")
            assert await ws.receive() == f"joined {there}"
            if there != here:
                break
        assert there != here, "every connection landed on one worker"
        # Each socket hears "node NAME" once every node knows it joined
        # (actors.lowlevel.sync_cluster), so `ws`'s node sent its
        # announcement to `first`'s node too.
        while (got := await first.receive()) != f"joined {there}":
            assert str(got).startswith("joined "), got
        await first.send("hello")
        assert await ws.receive() == f"{here}: hello"
        assert await first.receive() == f"{here}: hello"


def _cmdline(pid: int) -> bytes:
    return Path(f"/proc/{pid}/cmdline").read_bytes()


def _descendants(pid: int) -> set[int]:
    """The processes `pid` started, and theirs, from /proc."""
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            found |= {int(child), *_descendants(int(child))}
    return found


async def test_a_cluster_from_the_environment_is_joined_with_no_secret_in_any_argv() -> None:
    """`python -m httpserver --workers 2` with the Redis URL (its password
    in it) and the cookie in TRIO_MISULTIN_CLUSTER and TRIO_MISULTIN_COOKIE:
    the main process and its worker join the cluster as nodes, and neither
    secret is in the command line of any of the processes, where `ps` would
    show it to every user."""
    password, cookie = "workers-redis-pa55", "workers-c00kie"
    redis = RedisServer("--requirepass", password)
    url = f"redis://:{password}@127.0.0.1:{redis.port}/0"
    env = {**os.environ, _cli.CLUSTER_ENV: url, _cli.COOKIE_ENV: cookie}
    argv = python_argv(
        "-m", "httpserver", "tests.cli_app:node_view", "--workers", "2", "--node", "web"
    )
    process = await trio.lowlevel.open_process(
        [*argv, "--ip", "127.0.0.1", "--port", "0"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    runner = _Running(process)
    try:
        with trio.fail_after(30):
            await runner.wait_listening()
            views: dict[str, int] = {}
            while len(views) < 2:  # new connections: the kernel spreads them
                view = json.loads((await fetch(runner.port)).text)
                views[view["node"]] = view["pid"]
        assert set(views) == {"web", "web.w1"}, views  # the worker is a node of the cluster
        # Both answer, over the cluster, a node that has the cookie.
        async with actors.node(name="probe", cluster=url, cookie=cookie, hidden=True):
            for name in views:
                assert (await actors.lowlevel.inspect(name, "node_info"))["node"] == name
        everyone = {process.pid, *views.values(), *_descendants(process.pid)}
        assert set(views.values()) <= everyone
        for pid in everyone:
            argv_seen = _cmdline(pid)
            assert password.encode() not in argv_seen, (pid, argv_seen)
            assert cookie.encode() not in argv_seen, (pid, argv_seen)
        for secret in (password, cookie):
            assert secret not in runner.output()
    finally:
        if process.returncode is None:
            process.terminate()
        with trio.CancelScope(shield=True), trio.fail_after(15):
            await process.wait()
        redis.stop()
