"""The command line: `python -m httpserver MODULE:FUNCTION --port N ...`.

As `uvicorn module:app` does, it imports the handler, starts one server
with it and runs until Ctrl-C or SIGTERM (which drain the server first).
Its flags come from the options table (`_options._TABLE`): every server
option is a flag, with the table's default and what a good value is as
its help, so the two cannot drift apart; option `foo_bar` is `--foo-bar`,
except `ws_loop` (`--ws`) and `ws` (`--ws-protocol`), and `loop` is the
positional MODULE:FUNCTION. The node's own flags (--cluster, --cookie,
--node: `_node_flags`, which also reads them from the environment) and
--log-level are the command line's alone.

Values are checked by `Options.of`, as a call to `start` checks them, so
the command line and the API refuse the same things with the same words.
Every bad value ends the command before anything starts, with one line on
stderr and status 2 (argparse's usage line is left out: `--help` has it).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any, Final, NoReturn

import actors
import actors.lowlevel

from ._lifespan import STARTUP_FAILED
from ._node_flags import (
    CLUSTER_ENV,
    COOKIE_ENV,
    add_node_flags,
    node_settings,
    warn_of_exposed_secrets,
)
from ._options import _TABLE, Options, positional_arity
from ._upgrades import ShadowedError, shadowed, shorthand_rows
from ._workers import WorkerStartError

__all__ = ["CLUSTER_ENV", "COOKIE_ENV", "flag", "main", "parser"]

_RENAMED: Final = {"ws_loop": "--ws", "ws": "--ws-protocol"}
_LEVELS: Final = ("critical", "error", "warning", "info", "debug")
# asgi is the positional MODULE:FUNCTION (see --interface); upgrades holds
# objects, which its shorthand options (--ws and the --ws-* flags) build.
_NOT_FLAGS: Final = ("asgi", "upgrades")


def flag(name: str) -> str:
    """The command-line flag of server option `name` (`loop` is positional)."""
    return _RENAMED.get(name) or "--" + name.replace("_", "-")


def _handler(text: str) -> Callable[..., Any]:
    """MODULE:FUNCTION -> the function (FUNCTION may be dotted: Class.method)."""
    module_name, colon, attrs = text.partition(":")
    if not colon or not module_name or not attrs:
        raise argparse.ArgumentTypeError(f"{text!r} is not MODULE:FUNCTION")
    if "" not in sys.path and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())  # as `python -m` does: the current directory's modules
    try:
        found: Any = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name is None or not module_name.startswith(exc.name):
            raise  # the module was found; something it imports was not
        raise argparse.ArgumentTypeError(f"cannot import {module_name!r}: {exc}") from None
    for attr in attrs.split("."):
        try:
            found = getattr(found, attr)
        except AttributeError:
            raise argparse.ArgumentTypeError(
                f"{module_name!r} has no {attrs!r} (in {text!r})"
            ) from None
    if not callable(found):
        raise argparse.ArgumentTypeError(f"{text} is {found!r}, not a function")
    handler: Callable[..., Any] = found
    return handler


def _number(text: str) -> int | float:
    """An int if it reads as one, else a float (the table's check decides)."""
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None


def _words(text: str) -> list[str]:
    return [word.strip() for word in text.split(",") if word.strip()]


def _pair(text: str) -> tuple[int, int]:
    messages, _, size = text.partition(",")
    try:
        return int(messages), int(size)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not MESSAGES,BYTES") from None


def _ssl(text: str) -> dict[str, str]:
    certfile, _, keyfile = text.partition(",")
    return {"certfile": certfile, "keyfile": keyfile} if keyfile else {"certfile": certfile}


# How a flag's text becomes a value, for the options whose default does not
# say (None, or a tuple); any other takes its default's type.
_PARSE: Final[dict[str, tuple[Callable[[str], Any], str]]] = {
    "ws_loop": (_handler, "MODULE:FUNCTION"),
    "access_log": (_handler, "MODULE:FUNCTION"),
    "static": (str, "DIR"),
    "name": (str, "NAME"),
    "ssl": (_ssl, "CERTFILE[,KEYFILE]"),
    "trusted_proxies": (_words, "ADDRESS,..."),
    "ws_origins": (_words, "ORIGIN,..."),
    "ws_subprotocols": (_words, "PROTOCOL,..."),
    "ws_max_pending": (_pair, "MESSAGES,BYTES"),
}


def _shown(default: Any) -> str:
    if isinstance(default, tuple) and not default:
        return "none"
    if isinstance(default, tuple):
        return ",".join(str(part) for part in default)
    return str(default)


class _Parser(argparse.ArgumentParser):
    """argparse, but an error is one line: `PROG: error: WHY`."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {_one_line(message)}\n")


def _one_line(text: str) -> str:
    return " ".join(text.splitlines())


def parser() -> argparse.ArgumentParser:
    """The argument parser, one flag per row of the options table."""
    program = os.path.basename(sys.argv[0])
    cli = _Parser(
        prog="python -m httpserver" if program in ("__main__.py", "-c", "") else program,
        usage="%(prog)s MODULE:FUNCTION [--port N] [--ws MODULE:FUNCTION] [--workers N] [...]",
        description="Serve an async handler function over HTTP (and WebSocket with --ws)."
        " Every server option is a flag; --help lists them all.",
        epilog="example: python -m httpserver examples.hello_world:handle_http --port 8080",
        argument_default=argparse.SUPPRESS,  # an option not given takes the table's default
        allow_abbrev=False,  # --ws is a flag of its own, not short for --ws-protocol
    )
    for name, default, _check, good in [*_TABLE, *shorthand_rows()]:
        if name in _NOT_FLAGS:
            continue
        help_text = f"{good} (default: {_shown(default)})".replace("%", "%%")
        if name == "loop":
            what = (
                f"the handler: {good}, or an ASGI 3 application (see --interface),"
                " as module:function,"
                " e.g. examples.hello_world:handle_http or myapp:app"
            )
            cli.add_argument("loop", type=_handler, metavar="MODULE:FUNCTION", help=what)
        elif isinstance(default, bool):
            cli.add_argument(
                flag(name), dest=name, action=argparse.BooleanOptionalAction, help=help_text
            )
        elif name in _PARSE:
            kind, metavar = _PARSE[name]
            cli.add_argument(flag(name), dest=name, type=kind, metavar=metavar, help=help_text)
        else:
            kind = _number if isinstance(default, int | float) else str
            cli.add_argument(flag(name), dest=name, type=kind, metavar=name.upper(), help=help_text)
    cli.add_argument(
        "--interface",
        choices=("auto", "asgi", "misultin"),
        help="what MODULE:FUNCTION is: an ASGI app (scope, receive, send) or a misultin"
        " loop(req); auto tells them by their signature (default: auto)",
    )
    add_node_flags(cli)
    cli.add_argument(
        "--log-level",
        choices=_LEVELS,
        help="the level of the actors and httpserver loggers (default: warning)",
    )
    return cli


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; the exit status."""
    cli = parser()
    given = sys.argv[1:] if argv is None else list(argv)
    clash = shadowed()  # websocket-client's `websocket` in place of ours, say
    if clash is not None and any(arg.startswith("--ws") for arg in given):
        cli.error(clash)  # its flags are missing: say why, not "unrecognized --ws"
    args = vars(cli.parse_args(given))
    node = node_settings(cli, args)
    level = args.pop("log_level", None)
    interface = args.pop("interface", "auto")
    if interface == "asgi" or (interface == "auto" and positional_arity(args["loop"]) == 3):
        args["asgi"] = args.pop("loop")
    try:
        Options.of(args)  # refused here with the words `start` would use
    except (TypeError, ValueError, ShadowedError) as exc:
        cli.error(str(exc))
    actors.lowlevel.install_logging(level)
    warn_of_exposed_secrets(node)
    try:
        actors.run(_serve, args, node=node.name, cluster=node.cluster, cookie=node.cookie)
    except (OSError, WorkerStartError, actors.ClusterError) as exc:
        print(f"{cli.prog}: error: {_one_line(str(exc))}", file=sys.stderr)
        return 1
    except actors.ProcessExit as exc:
        if exc.reason == STARTUP_FAILED:  # the listener logged why, in one line
            return 1
        raise
    return 0


async def _serve(options: dict[str, Any]) -> None:
    from ._listener import info, start_link, wait_listening

    server = start_link(**options)
    await wait_listening(server)  # an ASGI app's lifespan startup first
    where = info(server)
    scheme = "https" if options.get("ssl") else "http"
    host = f"[{where['ip']}]" if ":" in where["ip"] else where["ip"]
    print(f"listening on {scheme}://{host}:{where['port']}/", flush=True)
    await actors.receive()  # until SIGTERM or Ctrl-C drains the server and exits
