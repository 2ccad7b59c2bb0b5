"""Hostile-client soak of the WebSocket server (issue 8): what one bad socket costs everyone.

    python -m bench.ws_hostile [--only FLOOD] [--json] [--FLOOD-seconds S] [--FLOOD-count N]

Each flood runs against a fresh server (bench/_ws_hostile_server.py, every
WebSocket option at its default) while 50 polite sockets (--sockets) each
echo a short message 20 times a second (--rate) and time every echo
(bench/_ws_polite_client.py, wsproto, an open loop). After a quiet
--baseline, ONE hostile socket (bench/_ws_hostile_client.py, frames built
by hand and made before the flood) floods, bounded in time and count:

  oversize      a 17 MiB binary message (the limit is 16 MiB), then 64 KiB
                messages behind it, until the bound or the server ends the
                socket (finding 2); "wrote past the limit" is the bytes the
                client got written after the frame's head and 16 MiB
  backpressure  200,000 binary messages of 1 KiB as fast as the server takes
                them, to a handler that sleeps 10 ms per message (3a)
  deflate       40 permessage-deflate messages of 15 MiB of zeros (about
                15 KB each on the wire) to a handler that sleeps 1 s per
                message (3b)
  fragments     one binary message in 4,000,000 one-byte fragments, never
                finished (4)
  pings         2,000,000 empty pings, never reading the pongs (5)

A flood whose count is sent before its time bound holds its socket open,
unread, until the bound: a backlog the server holds still counts. It ends
early when the server resets or closes the socket.
"wrote past the limit" counts what the kernel's socket buffers took too
(a few MiB on loopback): a server that stops reading at the limit still
shows that much.

One line per flood: its duration; the server's CPU seconds during it
(/proc/PID/stat utime+stime; "after" is what it spent from the flood's end
until the hostile client had read the server's last words); the server's
RSS growth (peak VmRSS, sampled every 100 ms from the flood's start until
the hostile socket closes, minus VmRSS at the start); the polite echoes'
p50/p99 latency over messages scheduled during the flood, and how many of
those failed (a broken socket, or no echo by the time the polite client
stops, --grace s after the hostile socket has closed); what ended the hostile socket
(a close code read, a reset or EOF, or still open at the bound); and what
the server accepted (GET /stats: messages the hostile handler took, and
those still waiting in its mailbox). "quiet p99" is the polite p99 in
the quiet seconds before that flood (the first second not counted): the
machine's own noise, to read the flood's p99 against. Targets, from
issue 8: RSS growth under 64 MiB per hostile socket, polite p99 under 50 ms.

The server is pinned to one CPU and both clients to the other (taskset, by
bench/_harness.py); the clients' CPU shares during the flood are printed,
and a flood is flagged client-bound if they reach 0.9 of their CPU. A
flood is stopped (SIGUSR1 to the hostile client) if the server's RSS grows
past --rss-cap-mib. Loopback only; about two minutes in all.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from bench._harness import Placement, PlacementNotes, Server, note, placement, serving

REPO = Path(__file__).resolve().parent.parent
MiB = 1024 * 1024
RSS_TARGET_MIB = 64.0
P99_TARGET_MS = 50.0
CLIENT_BOUND = 0.9
SAMPLE_EVERY = 0.1  # seconds between looks at the server's VmRSS
READY_TIMEOUT = 30.0  # for the polite sockets to open, and the hostile one
AFTER_TIMEOUT = 30.0  # for the hostile client, past its bound, to report
BASELINE_SKIP = 1.0  # the first polite messages (connection warm-up) are not counted
PLACEMENT_NOTES = PlacementNotes(
    one_cpu="only one CPU ({cpus}): server and clients run unpinned",
    no_taskset="taskset is missing: server and clients run unpinned",
    pinned="server pinned to CPU {server}, both clients to CPU {client}",
)


@dataclass(frozen=True)
class FloodSpec:
    mode: str  # the server's --mode: what the hostile socket's handler does
    seconds: float
    count: int | None
    message_mib: float = 17.0


FLOODS: dict[str, FloodSpec] = {
    "oversize": FloodSpec("echo", 10.0, None, 17.0),
    "backpressure": FloodSpec("slow10ms", 15.0, 200_000),
    "deflate": FloodSpec("slow1s", 20.0, 40, 15.0),
    "fragments": FloodSpec("echo", 20.0, 4_000_000),
    "pings": FloodSpec("echo", 20.0, 2_000_000),
}

# -- child processes ------------------------------------------------------------------


class Lines:
    """JSON (or plain) lines from a child's stdout, with a timeout per line."""

    def __init__(self, stream: IO[bytes]) -> None:
        self.fd = stream.fileno()
        self.buf = b""
        self.eof = False

    def next(self, timeout: float) -> str | None:
        """The next line, or None at the timeout or the end."""
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if self.eof or left <= 0 or not select.select([self.fd], [], [], left)[0]:
                return None
            data = os.read(self.fd, 1 << 20)
            if not data:
                self.eof = True
            self.buf += data
        line, _, self.buf = self.buf.partition(b"\n")
        return line.decode()


def child(where: Placement, module: str, args: list[str], stderr: Path) -> subprocess.Popen[bytes]:
    with stderr.open("wb") as err:
        return subprocess.Popen(
            [*where.client, sys.executable, "-m", module, *args],
            cwd=REPO,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=err,
        )


def end_child(proc: subprocess.Popen[bytes]) -> None:
    """Stop a client we started, by its own handle, if it is still running."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def cpu_seconds(pid: int) -> float:
    """utime+stime of a process so far (0 once it is gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# -- one flood ------------------------------------------------------------------------


@dataclass
class Watch:
    """The server while the hostile socket floods."""

    rss0: int
    peak: int
    cpu0: float
    cpu_end: float | None = None
    cpu_after: float | None = None
    capped: bool = False
    server_died: str | None = None


def watch(
    server: Server,
    hostile: subprocess.Popen[bytes],
    lines: Lines,
    spec: FloodSpec,
    cap: int,
    events: dict[str, Any],
    clients: tuple[int, int],
) -> Watch:
    """Sample the server every SAMPLE_EVERY s until the hostile client reports."""
    w = Watch(server.vm_rss(), 0, server.cpu_seconds())
    w.peak = w.rss0
    loads0 = [cpu_seconds(pid) for pid in clients]
    give_up = time.monotonic() + spec.seconds + AFTER_TIMEOUT
    while "result" not in events:
        line = lines.next(SAMPLE_EVERY)
        if line is not None:
            event = json.loads(line)
            events[event["event"]] = event
            if event["event"] == "ended":
                w.cpu_end = server.cpu_seconds()
                events["loads"] = [
                    cpu_seconds(pid) - c0 for pid, c0 in zip(clients, loads0, strict=True)
                ]
        if (code := server.proc.poll()) is not None:
            w.server_died = f"server exited with status {code}"
            break
        with contextlib.suppress(OSError, RuntimeError):
            w.peak = max(w.peak, server.vm_rss())
        if w.peak - w.rss0 > cap and not w.capped:
            w.capped = True
            hostile.send_signal(signal.SIGUSR1)
        if lines.eof or time.monotonic() > give_up:
            break
    if w.server_died is None:
        w.cpu_after = server.cpu_seconds()
    return w


def run_flood(
    name: str, spec: FloodSpec, args: argparse.Namespace, where: Placement, workdir: Path
) -> dict[str, Any]:
    py = sys.executable
    command = [py, "-m", "bench._ws_hostile_server", "--mode", spec.mode, "--port"]
    with serving(
        where,
        "ws_hostile",
        lambda port: [*command, str(port)],
        workdir,
        signal.SIGINT,
        workload=name,
        cwd=REPO,
    ) as server:
        port = str(server.port)
        polite_args = ["--port", port, "--sockets", str(args.sockets), "--rate", str(args.rate)]
        polite = child(
            where,
            "bench._ws_polite_client",
            [*polite_args, "--grace", str(args.grace)],
            workdir / f"polite-{name}.stderr",
        )
        hostile: subprocess.Popen[bytes] | None = None
        events: dict[str, Any] = {}
        try:
            assert polite.stdout is not None
            assert polite.stdin is not None
            polite_lines = Lines(polite.stdout)
            if polite_lines.next(READY_TIMEOUT) != "ready":
                raise RuntimeError(f"the polite sockets did not open; see {workdir}")
            ready = time.monotonic()
            base_cpu0 = server.cpu_seconds()
            time.sleep(args.baseline)
            base_cpu = (server.cpu_seconds() - base_cpu0) / args.baseline
            hostile_args = [name, "--port", port, "--seconds", str(spec.seconds)]
            if spec.count is not None:
                hostile_args += ["--count", str(spec.count)]
            hostile_args += ["--message-mib", str(spec.message_mib)]
            hostile = child(
                where, "bench._ws_hostile_client", hostile_args, workdir / f"hostile-{name}.stderr"
            )
            assert hostile.stdout is not None
            lines = Lines(hostile.stdout)
            first = lines.next(READY_TIMEOUT)
            if first is None:
                raise RuntimeError(f"the hostile client did not start; see {workdir}")
            events[json.loads(first)["event"]] = json.loads(first)
            w = None
            if "flooding" in events:
                cap = int(args.rss_cap_mib * MiB)
                clients = (hostile.pid, polite.pid)
                w = watch(server, hostile, lines, spec, cap, events, clients)
            polite.stdin.close()
            answer = polite_lines.next(args.grace + READY_TIMEOUT)
            records = json.loads(answer)["records"] if answer else []
        finally:
            for proc in (hostile, polite):
                if proc is not None:
                    end_child(proc)
    return summarize(name, spec, events, w, records, ready, base_cpu)


# -- figures --------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile of sorted `values` (NaN if empty)."""
    if not values:
        return float("nan")
    return values[min(len(values) - 1, max(0, round(q * len(values) + 0.5) - 1))]


def window(records: list[list[float]], start: float, end: float) -> dict[str, Any]:
    inside = [latency for t, latency in records if start <= t < end]
    good = sorted(latency * 1000 for latency in inside if latency >= 0)
    return {
        "messages": len(inside),
        "failed": len(inside) - len(good),
        "p50_ms": percentile(good, 0.50),
        "p99_ms": percentile(good, 0.99),
        "max_ms": good[-1] if good else float("nan"),
    }


def summarize(
    name: str,
    spec: FloodSpec,
    events: dict[str, Any],
    w: Watch | None,
    records: list[list[float]],
    ready: float,
    base_cpu: float,
) -> dict[str, Any]:
    result = events.get("result", {})
    out: dict[str, Any] = {"flood": name, "spec": spec.__dict__, "hostile": result}
    start = events.get("flooding", {}).get("t")
    out["baseline"] = window(records, ready + BASELINE_SKIP, start or float("inf"))
    out["server_cpu_share_baseline"] = base_cpu
    if start is None or w is None:
        out["error"] = result.get("error", "the flood did not start")
        return out
    end = events.get("ended", {}).get("t", time.monotonic())
    seconds = end - start
    loads = events.get("loads", [float("nan")] * 2)
    out.update(
        seconds=seconds,
        server_cpu=(w.cpu_end if w.cpu_end is not None else w.cpu0) - w.cpu0,
        server_cpu_after=(w.cpu_after - w.cpu_end)
        if w.cpu_after is not None and w.cpu_end is not None
        else None,
        rss_before_mib=w.rss0 / MiB,
        rss_growth_mib=(w.peak - w.rss0) / MiB,
        rss_capped=w.capped,
        server_died=w.server_died,
        polite=window(records, start, end),
        hostile_cpu_share=loads[0] / seconds if seconds > 0 else float("nan"),
        polite_cpu_share=loads[1] / seconds if seconds > 0 else float("nan"),
    )
    out["ended_by"] = ended_by(result, seconds, w)
    return out


def ended_by(r: dict[str, Any], seconds: float, w: Watch) -> str:
    """What ended the hostile socket, in words."""
    if w.server_died:
        return w.server_died
    if "error" in r:
        return f"client error: {r['error']}"
    close = f"close {r['close_code']}" if r.get("close_code") is not None else None
    if r.get("server_end"):
        return ", ".join(filter(None, [close, f"{r['server_end']} at {seconds:.1f} s"]))
    if r.get("stopped_by") == "RSS cap":
        return ", ".join(filter(None, [close, f"stopped at the RSS cap at {seconds:.1f} s"]))
    if close:
        return f"{close} read, but open at the bound"
    return "open at the bound"


def detail(out: dict[str, Any]) -> str:
    """What the hostile client sent and the server accepted."""
    r, spec = out["hostile"], out["spec"]
    stats = r.get("stats")
    count = f"/{spec['count']:,}" if spec["count"] is not None else ""
    wire = r["sent_bytes"] / 1e6
    parts = [
        f"sent {r['units']:,}{count} {r['unit_name']} ({wire:,.1f} MB) in {r['send_seconds']:.1f} s"
    ]
    if out["flood"] == "oversize":
        parts[0] = (
            f"wrote {r['after_limit'] / MiB:,.2f} MiB past the 16 MiB limit "
            f"({r['units']:,} x 64 KiB msgs behind the 17 MiB one)"
        )
    if out["flood"] == "pings":
        parts.append(f"read {r['pongs_read']:,} pongs after")
    if isinstance(stats, dict):
        parts.append(
            f"handler took {stats['hostile_messages']:,} msgs, "
            f"{stats['hostile_backlog']:,} waiting in its mailbox"
        )
    else:
        parts.append(f"stats: {stats}")
    after = out.get("server_cpu_after")
    if after is not None:
        parts.append(f"server CPU after the flood {after:.1f} s")
    parts.append(
        f"load CPU hostile {out['hostile_cpu_share']:.2f} polite {out['polite_cpu_share']:.2f}"
    )
    if max(out["hostile_cpu_share"], out["polite_cpu_share"]) >= CLIENT_BOUND:
        parts.append("CLIENT-BOUND")
    return "; ".join(parts)


def mark(ok: bool) -> str:
    return "ok  " if ok else "OVER"


def print_report(results: list[dict[str, Any]], args: argparse.Namespace, where: Placement) -> None:
    print(
        f"WebSocket hostile-client soak (issue 8): one hostile socket per flood, "
        f"{args.sockets} polite sockets echoing {args.rate:g} msg/s each"
    )
    print(f"{where.note}; a fresh bench._ws_hostile_server (default options) per flood")
    print(
        f"targets: server RSS growth < {RSS_TARGET_MIB:g} MiB per hostile socket; "
        f"polite p99 < {P99_TARGET_MS:g} ms"
    )
    print(
        f"quiet p99: the polite p99 in the {args.baseline:g} s before the flood, no hostile "
        "socket yet (the machine's own noise)"
    )
    print()
    print(
        f"{'flood':13} {'secs':>5} {'srv CPU s':>9} {'RSS +MiB (<64)':>15} "
        f"{'polite p50 / p99 ms (<50)':>26} {'failed':>7} {'quiet p99':>9}  "
        f"{'hostile socket ended by':32} what"
    )
    for out in results:
        quiet = out["baseline"]["p99_ms"]
        if "error" in out:
            print(f"{out['flood']:13} error: {out['error']}")
            continue
        pol, growth = out["polite"], out["rss_growth_mib"]
        print(
            f"{out['flood']:13} {out['seconds']:>5.1f} {out['server_cpu']:>9.2f} "
            f"{growth:>+10.1f} {mark(growth < RSS_TARGET_MIB)} "
            f"{pol['p50_ms']:>10.1f} / {pol['p99_ms']:>7.1f} {mark(pol['p99_ms'] < P99_TARGET_MS)} "
            f"{pol['failed']:>7} {quiet:>9.1f}  {out['ended_by']:32} {detail(out)}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", choices=sorted(FLOODS), action="append", help="run this flood")
    parser.add_argument("--json", action="store_true", help="print one JSON list of results")
    parser.add_argument("--sockets", type=int, default=50, help="polite sockets (default 50)")
    parser.add_argument("--rate", type=float, default=20.0, help="msgs/s per polite socket")
    parser.add_argument("--baseline", type=float, default=3.0, help="quiet seconds before a flood")
    parser.add_argument("--grace", type=float, default=2.0, help="seconds for late polite echoes")
    parser.add_argument(
        "--rss-cap-mib", type=float, default=2048, help="stop a flood past this RSS growth"
    )
    for name, spec in FLOODS.items():
        parser.add_argument(
            f"--{name}-seconds", type=float, default=spec.seconds, help=f"default {spec.seconds:g}"
        )
        if spec.count is not None:
            parser.add_argument(
                f"--{name}-count", type=int, default=spec.count, help=f"default {spec.count:,}"
            )
    args = parser.parse_args()
    where = placement(PLACEMENT_NOTES)
    results = []
    with tempfile.TemporaryDirectory(prefix="ws_hostile_") as tmp:
        for name, spec in FLOODS.items():
            if args.only and name not in args.only:
                continue
            count = getattr(args, f"{name}_count", None)
            bounded = FloodSpec(
                spec.mode, getattr(args, f"{name}_seconds"), count, spec.message_mib
            )
            results.append(run_flood(name, bounded, args, where, Path(tmp)))
            for path in sorted(Path(tmp).glob("*.stderr")):
                if text := path.read_text(errors="replace").strip():
                    head = "\n".join(text.splitlines()[:10])
                    note(f"{name}: {path.name} says:\n{head}")
                path.unlink()
    if args.json:
        print(json.dumps(results))
    else:
        print_report(results, args, where)


if __name__ == "__main__":
    main()
