"""`metrics=PORT`: Prometheus's text format at /metrics, on a listener of its own.

The figures are the ones the observer page shows, read the same way
(`actors.lowlevel`: `node_info`, `process_rows`, the stats and probes the
layers register, `cluster_peers`), plus the responses this server counts
by status. Each sample has the label `node`; with `workers=N` in a
cluster, the main process asks each worker's node too (through
`actors.lowlevel.inspect`), so one scrape sees every process of the port.

| metric | kind | what |
|---|---|---|
| trio_misultin_processes | gauge | live processes of the node |
| trio_misultin_messages_total | counter | messages delivered to its mailboxes |
| trio_misultin_mailbox_messages | gauge | messages waiting in all its mailboxes |
| trio_misultin_mailbox_messages_max | gauge | the longest mailbox |
| trio_misultin_resident_memory_bytes | gauge | the OS process's RSS |
| trio_misultin_uptime_seconds | gauge | since the node started |
| trio_misultin_http_connections | gauge | open HTTP connections (a registered stat) |
| trio_misultin_websockets | gauge | open WebSockets (a registered stat) |
| trio_misultin_http_requests_total{status} | counter | responses sent, by status |
| trio_misultin_cluster_peer_up{peer} | gauge | 1 while connected to that node |
| trio_misultin_cluster_peer_outbox_messages{peer} | gauge | messages queued for it |
| trio_misultin_cluster_peer_outbox_bytes{peer} | gauge | their bytes |

Every stat a layer registers with `actors.lowlevel.add_stat` becomes a
gauge `trio_misultin_NAME`. The metrics listener's own requests are not
counted. prometheus-client writes the format; it is the `metrics` extra.
"""

from __future__ import annotations

import collections
import logging
from collections.abc import Callable
from typing import Any, Final

import actors
import actors.lowlevel

from ._req import Req

__all__ = [
    "REQUESTS_PROBE",
    "check_available",
    "check_workers",
    "node_requests",
    "serve_metrics",
]

logger = logging.getLogger("httpserver")

REQUESTS_PROBE: Final = "http_requests"  # rows {"status", "count"}, for `inspect`
PEERS_PROBE: Final = "cluster_peers"
_PREFIX: Final = "trio_misultin_"
_requests: actors.lowlevel.NodeVar[collections.Counter[int]] = actors.lowlevel.NodeVar(
    "httpserver.requests"
)


def check_available() -> None:
    """ValueError naming the extra, if prometheus-client is not installed."""
    try:
        import prometheus_client  # noqa: F401
    except ImportError:
        raise ValueError(
            "bad server option metrics: it needs prometheus-client, which is not installed:"
            " pip install 'trio-misultin[metrics]'"
        ) from None


def check_workers(workers: int, in_cluster: bool) -> None:
    """ValueError if `workers` > 1 outside a cluster: the metrics listener
    can ask the workers for their figures only as nodes of one."""
    if workers > 1 and not in_cluster:
        raise ValueError(
            f"bad server options: metrics with workers={workers} needs a cluster (each worker"
            " is then a node that the metrics listener asks for its figures)"
        )


def node_requests() -> collections.Counter[int]:
    """The calling node's responses by status, shared by its servers (a
    server that stops leaves its counts: a counter only grows)."""
    counts = _requests.get(None)
    if counts is None:
        counts = collections.Counter()
        _requests.set(counts)
        actors.lowlevel.add_probe(REQUESTS_PROBE, _request_rows)
        actors.lowlevel.add_probe(PEERS_PROBE, actors.lowlevel.cluster_peers)
    return counts


def _request_rows() -> list[dict[str, Any]]:
    return [{"status": status, "count": count} for status, count in sorted(node_requests().items())]


async def _local() -> dict[str, Any]:
    return {
        "info": actors.lowlevel.node_info(),
        "rows": actors.lowlevel.process_rows(),
        "requests": _request_rows(),
        "peers": actors.lowlevel.cluster_peers(),
    }


async def _remote(node: str) -> dict[str, Any] | None:
    """What `_local` reads, read on another node (a worker's)."""
    inspect = actors.lowlevel.inspect
    try:
        return {
            "info": await inspect(node, "node_info", timeout=2.0),
            "rows": await inspect(node, "process_rows", timeout=2.0),
            "requests": await inspect(node, "probe", REQUESTS_PROBE, timeout=2.0),
            "peers": await inspect(node, "probe", PEERS_PROBE, timeout=2.0),
        }
    except (actors.CallTimeout, actors.CallExit, actors.RemoteError) as exc:
        logger.warning("metrics: node %s did not answer (%r); left out of this scrape", node, exc)
        return None


def exposition(nodes: list[dict[str, Any]]) -> bytes:
    """Prometheus's text format for the figures of `nodes`."""
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

    def gauge(name: str, doc: str, labels: tuple[str, ...] = ()) -> GaugeMetricFamily:
        return GaugeMetricFamily(_PREFIX + name, doc, labels=["node", *labels])

    processes = gauge("processes", "Live processes of the node.")
    messages = CounterMetricFamily(
        _PREFIX + "messages", "Messages delivered to the node's mailboxes.", labels=["node"]
    )
    waiting = gauge("mailbox_messages", "Messages waiting in the node's mailboxes.")
    longest = gauge("mailbox_messages_max", "Messages waiting in the longest mailbox.")
    rss = gauge("resident_memory_bytes", "Resident memory of the node's OS process.")
    uptime = gauge("uptime_seconds", "Seconds since the node started.")
    requests = CounterMetricFamily(
        _PREFIX + "http_requests", "HTTP responses sent, by status.", labels=["node", "status"]
    )
    up = gauge("cluster_peer_up", "1 while connected to the peer node.", ("peer",))
    outbox = gauge("cluster_peer_outbox_messages", "Messages queued for the peer.", ("peer",))
    outbox_bytes = gauge("cluster_peer_outbox_bytes", "Bytes queued for the peer.", ("peer",))
    stats: dict[str, GaugeMetricFamily] = {}
    for data in nodes:
        info = data["info"]
        node = str(info["node"])
        processes.add_metric([node], info["processes"])
        messages.add_metric([node], info["messages"])
        queues = [row["message_queue_len"] for row in data["rows"]]
        waiting.add_metric([node], sum(queues))
        longest.add_metric([node], max(queues, default=0))
        rss.add_metric([node], info["rss"])
        uptime.add_metric([node], info["uptime"])
        for name, value in sorted(info["stats"].items()):
            if name not in stats:
                stats[name] = gauge(name, f"The {name} stat a layer registered.")
            stats[name].add_metric([node], value)
        for row in data["requests"]:
            requests.add_metric([node, str(row["status"])], row["count"])
        for peer in data["peers"]:
            up.add_metric([node, peer["node"]], 1 if peer["up"] else 0)
            outbox.add_metric([node, peer["node"]], peer["outbox"])
            outbox_bytes.add_metric([node, peer["node"]], peer["outbox_bytes"])
    families = [processes, messages, waiting, longest, rss, uptime, *stats.values(), requests]
    families += [up, outbox, outbox_bytes]

    class _Snapshot:
        def collect(self) -> list[Any]:
            return families

    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Snapshot())
    return bytes(generate_latest(registry))


def metrics_handler(workers: Callable[[], list[str]]) -> Any:
    """The metrics listener's `loop`: this node's figures, and those of
    the worker nodes `workers()` names (a cluster's)."""
    return _MetricsLoop(workers)


class _MetricsLoop:
    __slots__ = ("workers",)

    def __init__(self, workers: Callable[[], list[str]]) -> None:
        self.workers = workers

    async def __call__(self, req: Req) -> None:
        await serve_metrics(req, self.workers())


async def serve_metrics(req: Req, workers: list[str]) -> None:
    """GET /metrics: the text format; anything else 404."""
    from prometheus_client import CONTENT_TYPE_LATEST

    if req.path != "/metrics":
        await req.respond(404, {"Content-Type": "text/plain"}, b"see /metrics\n")
        return
    if req.method not in ("GET", "HEAD"):
        await req.respond(405, {"Allow": "GET, HEAD", "Content-Type": "text/plain"}, b"")
        return
    nodes = [await _local()]
    for node in workers:
        remote = await _remote(node)
        if remote is not None:
            nodes.append(remote)
    await req.respond(200, {"Content-Type": CONTENT_TYPE_LATEST}, exposition(nodes))
