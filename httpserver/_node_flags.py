"""The command line's node flags, --cluster URL, --cookie SECRET and --node NAME.

The cluster's Redis URL (with its password) and its cookie are secrets, and
a command line is not one: `ps` and /proc/PID/cmdline show it to every user
of the machine. So both can come from the environment instead
(TRIO_MISULTIN_CLUSTER, TRIO_MISULTIN_COOKIE), which only the user and root
can read; --help names the variables, never their values; a message shows a
URL with its password as ***; and the workers of --workers N get both
through their lifeline pipe (`_workers`), never through their argv.

A URL is checked here, before anything starts, so that a typo ends in one
line and status 2, as any bad value does, and not in a Redis client's
traceback; so is the `cluster` extra that a cluster needs.
"""

from __future__ import annotations

import argparse
import logging
import os
from dataclasses import dataclass
from typing import Any, Final

import actors

__all__ = [
    "CLUSTER_ENV",
    "COOKIE_ENV",
    "NodeSettings",
    "add_node_flags",
    "node_settings",
    "redacted",
    "warn_of_exposed_secrets",
]

CLUSTER_ENV: Final = "TRIO_MISULTIN_CLUSTER"
"""The cluster's Redis URL, when --cluster is not given."""
COOKIE_ENV: Final = "TRIO_MISULTIN_COOKIE"
"""The cluster's cookie, when --cookie is not given."""


logger = logging.getLogger("httpserver")


def add_node_flags(cli: argparse.ArgumentParser) -> None:
    """Add --cluster, --cookie and --node to `cli`."""
    node = cli.add_argument_group("the node (see README, Clusters)")
    node.add_argument(
        "--cluster",
        metavar="URL",
        help="join this cluster: a redis://, rediss://, unix:// or redis+sentinel:// URL, with"
        f" its password if Redis has one (default: ${CLUSTER_ENV}, which `ps` does not show)",
    )
    node.add_argument(
        "--cookie",
        metavar="SECRET",
        help=f"the cluster's cookie (default: ${COOKIE_ENV}, which `ps` does not show)",
    )
    node.add_argument("--node", metavar="NAME", help="this node's name (default: HOST-PID)")


@dataclass(frozen=True, slots=True)
class NodeSettings:
    """What `actors.run` needs to start the node (`cluster` None: alone)."""

    name: str | None
    cluster: str | None
    cookie: str | None
    exposed: tuple[tuple[str, str], ...] = ()  # (secret, its variable) given in argv


def node_settings(cli: argparse.ArgumentParser, args: dict[str, Any]) -> NodeSettings:
    """Take the node flags out of `args`, the URL and cookie from the
    environment when not given; `cli.error` (one line, status 2) if they
    do not make a node."""
    name = args.pop("node", None)
    given_url, given_cookie = args.pop("cluster", None), args.pop("cookie", None)
    url = given_url if given_url is not None else os.environ.get(CLUSTER_ENV) or None
    if url is None:
        if name is not None or given_cookie is not None:
            cli.error(f"--node and --cookie need --cluster (or ${CLUSTER_ENV})")
        return NodeSettings(name, None, None)
    source = "--cluster" if given_url is not None else f"${CLUSTER_ENV}"
    why = _url_problem(url)
    if why is not None:
        cli.error(f"{source}: {why}")
    if not _have_coredis():
        cli.error(
            f"{source} needs the Redis client of the cluster extra (coredis), which is not"
            " installed: pip install 'trio-misultin[cluster]'"
        )
    cookie = given_cookie or os.environ.get(COOKIE_ENV)
    if not cookie:
        cli.error(f"{source} needs --cookie (or ${COOKIE_ENV}): the secret its nodes share")
    exposed = []
    if given_url is not None and redacted(given_url) != given_url:
        exposed.append(("the Redis password of --cluster", CLUSTER_ENV))
    if given_cookie:
        exposed.append(("the cookie of --cookie", COOKIE_ENV))
    return NodeSettings(name, url, cookie, tuple(exposed))


def warn_of_exposed_secrets(settings: NodeSettings) -> None:
    """A warning for each secret given on the command line, where every
    user of the machine can read it."""
    for what, variable in settings.exposed:
        logger.warning(
            "%s is on the command line, where any user of this machine can read it (ps):"
            " give it in $%s instead",
            what,
            variable,
        )


def redacted(url: str) -> str:
    """`url` as a message may show it: its passwords as ***."""
    return actors.lowlevel.redacted_url(url)


def _url_problem(url: str) -> str | None:
    """Why `url` is no cluster URL, or None."""
    try:
        actors.lowlevel.check_cluster_url(url)
    except ValueError as exc:
        return str(exc)
    return None


def _have_coredis() -> bool:
    try:
        import coredis  # noqa: F401
    except ImportError:
        return False
    return True
