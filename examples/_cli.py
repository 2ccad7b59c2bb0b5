"""What every server example shares: `--port` / `--ip`, the line a user (and
the tests) wait for, and running until interrupted."""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Callable
from typing import Any

import actors
import httpserver


def arguments(description: str | None = None) -> argparse.ArgumentParser:
    """The example's argument parser: --port (0 picks one) and --ip."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--port", type=int, default=8080, help="port (default 8080; 0 picks one)")
    parser.add_argument("--ip", default="127.0.0.1", help="address (default 127.0.0.1)")
    return parser


def listening(server: actors.Pid, scheme: str = "http", host: str | None = None) -> None:
    """Print where the server listens (tests wait for this line)."""
    options = httpserver.info(server)
    where = host or options["ip"]
    print(f"listening on {scheme}://{where}:{options['port']}/", flush=True)


async def _serve(args: argparse.Namespace, options: dict[str, Any]) -> None:
    server = httpserver.start_link(ip=args.ip, port=args.port, **options)
    listening(server, "https" if options.get("ssl") else "http")
    await actors.receive()  # run until interrupted


def serve_forever(
    description: str | None = None,
    *,
    parser: argparse.ArgumentParser | None = None,
    options: Callable[[argparse.Namespace], dict[str, Any]] | None = None,
    **fixed: Any,
) -> None:
    """Parse the command line (`parser`, default `arguments(description)`),
    start one server with `fixed` options plus `options(args)`, run until
    Ctrl-C."""
    args = (parser or arguments(description)).parse_args()
    chosen = {**fixed, **(options(args) if options else {})}
    with contextlib.suppress(KeyboardInterrupt):
        actors.run(_serve, args, chosen)
