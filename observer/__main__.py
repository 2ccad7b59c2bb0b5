"""`python -m observer`: the observer page, for this node or a cluster.

    python -m observer --port 8090
    TRIO_MISULTIN_CLUSTER=redis://:PASSWORD@HOST:6379/0 TRIO_MISULTIN_COOKIE=SECRET \\
        python -m observer --token-file /etc/observer/token [--port 8090]

With a cluster (`--cluster URL`, or TRIO_MISULTIN_CLUSTER), the observer
joins it as a hidden node (the other nodes do not list it, nor choose it
for anything) and shows every visible node, as Erlang's observer attached
to a remote node. Without one it shows its own node. It prints the page's
URL (and the kill token, when it made one), then runs until Ctrl-C or
SIGTERM.

A command line is visible to every user of the machine (`ps`), so no
secret has to stand in it: the Redis URL (with its password) and the
cookie come from TRIO_MISULTIN_CLUSTER and TRIO_MISULTIN_COOKIE (or the
older OBSERVER_COOKIE), the kill token from OBSERVER_TOKEN or a file
(`--token-file`). `--cluster`, `--cookie` and `--token` still work.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
from typing import Any, Final

import actors

from . import info, start_link
from ._access import check_bind

__all__ = ["CLUSTER_ENV", "COOKIE_ENV", "TOKEN_ENV", "main", "parser"]

CLUSTER_ENV: Final = "TRIO_MISULTIN_CLUSTER"
COOKIE_ENV: Final = "TRIO_MISULTIN_COOKIE"
OLD_COOKIE_ENV: Final = "OBSERVER_COOKIE"
TOKEN_ENV: Final = "OBSERVER_TOKEN"


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m observer", description="A live page of the nodes, trees and processes."
    )
    parser.add_argument("--port", type=int, default=8090, help="port (default 8090; 0 picks one)")
    parser.add_argument("--ip", default="127.0.0.1", help="address (default 127.0.0.1)")
    parser.add_argument(
        "--allowed-host",
        action="append",
        default=[],
        metavar="NAME",
        help="a Host name the page answers to, besides loopback ones (repeat for more);"
        " needed, with a token, to listen on an address other machines reach",
    )
    parser.add_argument(
        "--cluster", metavar="URL", help=f"a cluster's Redis URL: attach to it (or {CLUSTER_ENV})"
    )
    parser.add_argument(
        "--cookie", help=f"the cluster's cookie (better: {COOKIE_ENV}, or {OLD_COOKIE_ENV})"
    )
    parser.add_argument("--node", help="this observer's node name (default observer-HOST-PID)")
    parser.add_argument(
        "--token",
        help=f"the kill token (better: {TOKEN_ENV} or --token-file; default: a random one)",
    )
    parser.add_argument(
        "--token-file", metavar="PATH", help="a file whose first line is the kill token"
    )
    parser.add_argument(
        "--show-state", action="store_true", help="show message contents and servers' states"
    )
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between updates")
    return parser


def token_of(args: argparse.Namespace) -> tuple[str | None, str]:
    """The kill token and where it came from: --token, --token-file,
    OBSERVER_TOKEN, or none (the observer makes one)."""
    if args.token is not None and args.token_file is not None:
        sys.exit("observer: give --token or --token-file, not both")
    if args.token_file is not None:
        try:
            with open(args.token_file, encoding="utf-8") as file:
                token = file.readline().strip()
        except (OSError, UnicodeDecodeError) as exc:
            sys.exit(f"observer: cannot read the token file: {exc}")
        if not token:
            sys.exit(f"observer: the token file {args.token_file} is empty")
        return token, "--token-file"
    if args.token is not None:
        return args.token, "--token"
    from_env = os.environ.get(TOKEN_ENV)
    return (from_env, TOKEN_ENV) if from_env else (None, "")


async def serve(args: argparse.Namespace, token: str | None, source: str) -> None:
    pid = await start_link(
        port=args.port,
        ip=args.ip,
        show_state=args.show_state,
        token=token,
        interval=args.interval,
        allowed_hosts=args.allowed_host,
        announce=token is None,  # a token of the user's is not printed (stdout goes to logs)
        handle_signals=True,
    )
    if token is not None:
        print(f"observer on {info(pid)['url']} kill token from {source}", flush=True)
    await actors.receive()  # run until interrupted


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    token, source = token_of(args)
    try:
        check_bind(args.ip, token, args.allowed_host)  # a clear line, before anything starts
    except ValueError as exc:
        sys.exit(f"observer: {exc}")
    url = args.cluster or os.environ.get(CLUSTER_ENV)
    cluster: dict[str, Any] = {}
    if not url:
        if args.cookie is not None or args.node is not None:
            sys.exit(f"--cookie and --node need a cluster: --cluster or {CLUSTER_ENV}")
    else:
        cookie = args.cookie or os.environ.get(COOKIE_ENV) or os.environ.get(OLD_COOKIE_ENV)
        if not cookie:
            sys.exit(f"a cluster needs its cookie: {COOKIE_ENV} (or {OLD_COOKIE_ENV}, --cookie)")
        node = args.node or f"observer-{socket.gethostname()}-{os.getpid()}"
        cluster = {"node": node, "cluster": url, "cookie": cookie, "hidden": True}
    try:
        actors.run(serve, args, token, source, **cluster)
    except KeyboardInterrupt:
        pass
    except (actors.StartError, actors.ClusterError, ValueError, TypeError) as exc:
        sys.exit(f"observer: {exc}")


if __name__ == "__main__":
    main()
