"""`metrics=PORT` / `--metrics PORT`: Prometheus's text format on a listener
of its own, read with prometheus-client's own parser, from a real OS
process (the command line) and from nodes of a cluster."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import trio
from prometheus_client.parser import text_string_to_metric_families

import actors
import httpserver
from tests.cli_helpers import command_line, environment, run_command_line
from tests.cluster_helpers import start_node
from tests.http_helpers import _Running, fetch
from tests.ws_helpers import open_ws

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(port: int) -> Samples:
    """Every sample of GET /metrics, by name and labels."""
    response = await fetch(port, "/metrics")
    assert response.status == 200
    assert (response.header("content-type") or "").startswith("text/plain; version=")
    samples: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[sample.name, frozenset(sample.labels.items())] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    """The sample `name` whose labels include `labels` (0 when absent, as
    Prometheus reads a counter that has not started)."""
    found = [v for (n, have), v in samples.items() if n == name and set(labels.items()) <= have]
    assert len(found) <= 1, (name, labels, found)
    return found[0] if found else 0.0


async def metrics_port(server: _Running) -> int:
    """The port of the "metrics on http://IP:PORT/metrics" line."""
    output = await server.wait_for("/metrics\n")
    line = output.split("metrics on http://", 1)[1].split("\n", 1)[0]
    return int(line.split(":")[1].split("/")[0])


async def test_the_request_counter_rises_by_exactly_the_requests_made_by_status() -> None:
    async with command_line("tests.cli_app:crashes_on_boom", "--metrics", "0") as server:
        port = await metrics_port(server)
        before = await scrape(port)
        for _ in range(3):
            assert (await fetch(server.port, "/")).status == 200
        for _ in range(2):
            assert (await fetch(server.port, "/boom")).status == 500
        after = await scrape(port)
        again = await scrape(port)  # scrapes are not requests of the server
    name = "trio_misultin_http_requests_total"
    assert value(after, name, status="200") - value(before, name, status="200") == 3
    assert value(after, name, status="500") - value(before, name, status="500") == 2
    assert value(again, name, status="200") == value(after, name, status="200")
    for figure in ("processes", "messages_total", "mailbox_messages", "mailbox_messages_max"):
        assert f"trio_misultin_{figure}" in {n for n, _ in after}, figure
    assert value(after, "trio_misultin_processes") >= 2  # the listeners at least
    assert value(after, "trio_misultin_resident_memory_bytes") > 1_000_000


async def test_the_websocket_gauge_follows_an_open_socket() -> None:
    args = ("examples.websocket_echo:no_http", "--ws", "examples.websocket_echo:echo")
    async with command_line(*args, "--metrics", "0") as server:
        port = await metrics_port(server)
        assert value(await scrape(port), "trio_misultin_websockets") == 0
        async with open_ws(server.port, "/") as ws:
            await ws.send("hello")
            assert await ws.receive() == "hello"  # open, and served
            assert value(await scrape(port), "trio_misultin_websockets") == 1
            await ws.close()
        with trio.fail_after(10):  # the server's side ends just after the close handshake
            while value(await scrape(port), "trio_misultin_websockets") != 0:
                pass  # each scrape is a round trip to the server: the wait


async def test_a_page_other_than_metrics_is_404_and_a_post_405() -> None:
    async with command_line("tests.cli_app:crashes_on_boom", "--metrics", "0") as server:
        port = await metrics_port(server)
        assert (await fetch(port, "/")).status == 404
        assert (await fetch(port, "/metrics", method="POST")).status == 405
        assert (await fetch(server.port, "/metrics")).text == "fine"  # the server's own


async def test_metrics_without_prometheus_client_names_the_extra(tmp_path: Path) -> None:
    (tmp_path / "sitecustomize.py").write_text(
        'import sys\nsys.modules["prometheus_client"] = None  # as if it were not installed\n'
    )
    path = os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")]))
    args = ("tests.cli_app:crashes_on_boom", "--ip", "127.0.0.1", "--port", "0")
    done = await run_command_line(
        *args, "--metrics", "0", env=environment(PYTHONPATH=path), timeout=15
    )
    lines = done.stderr.decode().splitlines()
    assert done.returncode == 2, lines
    assert len(lines) == 1, lines
    assert "pip install 'trio-misultin[metrics]'" in lines[0]


async def test_metrics_with_workers_outside_a_cluster_is_refused_in_one_line() -> None:
    args = ("tests.cli_app:crashes_on_boom", "--ip", "127.0.0.1", "--port", "0")
    done = await run_command_line(*args, "--metrics", "0", "--workers", "2", timeout=15)
    lines = done.stderr.decode().splitlines()
    assert done.returncode == 2, lines
    assert len(lines) == 1, lines
    assert "metrics with workers=2 needs a cluster" in lines[0]


async def test_a_bad_metrics_port_is_refused_by_start() -> None:
    async with actors.node():
        with pytest.raises(ValueError, match=r"bad server option metrics=70000: it must be"):
            httpserver.start(port=0, loop=_answer, metrics=70000)


async def _answer(req: httpserver.Req) -> None:
    await req.ok("ok")


async def test_cluster_peers_and_their_queues_are_shown_per_peer(redis_url: str) -> None:
    stop = trio.Event()
    listening = trio.Event()
    ports: list[int] = []

    async def web() -> None:
        server = httpserver.start(ip="127.0.0.1", port=0, loop=_answer, metrics=0)
        ports.append(httpserver.info(server)["metrics"])
        listening.set()
        await stop.wait()
        await httpserver.stop(server)

    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            await start_node(nursery, "other", redis_url, stop.wait)
            await start_node(nursery, "web", redis_url, web)  # it sees "other" up at once
            await listening.wait()
            samples = await scrape(ports[0])
            stop.set()
    labels = {"node": "web", "peer": "other"}
    assert value(samples, "trio_misultin_cluster_peer_up", **labels) == 1
    assert value(samples, "trio_misultin_cluster_peer_outbox_messages", **labels) == 0
    assert value(samples, "trio_misultin_cluster_peer_outbox_bytes", **labels) == 0
    assert value(samples, "trio_misultin_processes", node="web") >= 1


async def test_with_workers_in_a_cluster_one_scrape_counts_every_worker(redis_url: str) -> None:
    env = environment(TRIO_MISULTIN_CLUSTER=redis_url, TRIO_MISULTIN_COOKIE="metrics-cookie")
    args = ("tests.cli_app:which_process", "--workers", "2", "--node", "web", "--metrics", "0")
    async with command_line(*args, env=env) as server:
        port = await metrics_port(server)
        pids = {(await fetch(server.port, "/")).text for _ in range(40)}
        samples = await scrape(port)
    assert len(pids) == 2, pids  # both processes served some
    name = "trio_misultin_http_requests_total"
    by_node = {node: value(samples, name, node=node, status="200") for node in ("web", "web.w1")}
    assert sum(by_node.values()) == 40, by_node
    assert all(count > 0 for count in by_node.values()), by_node
    assert value(samples, "trio_misultin_cluster_peer_up", node="web", peer="web.w1") == 1
