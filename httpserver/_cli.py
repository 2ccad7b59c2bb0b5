"""The command line: `python -m httpserver MODULE:FUNCTION --port N ...`.

As `uvicorn module:app` does, it imports the handler, starts one server
with it and runs until Ctrl-C or SIGTERM (which drain the server first).
Its flags come from the options table (`_options._TABLE`): every server
option is a flag, with the table's default and what a good value is as
its help, so the two cannot drift apart; option `foo_bar` is `--foo-bar`,
except `ws_loop` (`--ws`) and `ws` (`--ws-protocol`), and `loop` is the
positional MODULE:FUNCTION. The node's own flags (--cluster, --cookie,
--node: `_node_flags`, which also reads them from the environment), the
log's (--log-level, --log-format, the access log: `_log_lines`) and
--reload (`_reload`) are the command line's alone.

Values are checked by `Options.of`, as a call to `start` checks them, so
the command line and the API refuse the same things with the same words.
Every bad value ends the command before anything starts, with one line on
stderr and status 2 (argparse's usage line is left out: `--help` has it);
so does a module that cannot be imported, with where it failed.
"""

from __future__ import annotations

import argparse
import difflib
import importlib
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from typing import Any, Final, NoReturn

import actors
import actors.lowlevel

from . import _log_lines
from ._flag_help import DESCRIPTIONS, TYPED
from ._lifespan import STARTUP_FAILED
from ._metrics import check_available, check_workers
from ._node_flags import (
    CLUSTER_ENV,
    COOKIE_ENV,
    add_node_flags,
    node_settings,
    warn_of_exposed_secrets,
)
from ._options import _TABLE, Options, positional_arity
from ._reload import LIFELINE_ENV, watch_lifeline
from ._upgrades import ShadowedError, shadowed, shorthand_help, shorthand_rows
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
            raise _import_failed(module_name, exc) from None  # something it imports
        raise argparse.ArgumentTypeError(f"cannot import {module_name!r}: {exc}") from None
    except Exception as exc:  # a SyntaxError, a NameError... in the user's module
        raise _import_failed(module_name, exc) from None
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


def _import_failed(module_name: str, exc: BaseException) -> argparse.ArgumentTypeError:
    """The error, and where in the user's code it was raised: two lines, not
    a traceback through importlib and argparse."""
    error = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, SyntaxError):  # its message says where already
        error = f"{type(exc).__name__}: {exc.msg}"
        where = f'"{exc.filename}", line {exc.lineno}'
        if exc.text and exc.text.strip():
            where += f": {exc.text.strip()}"
    else:
        frames = [
            frame
            for frame in traceback.extract_tb(exc.__traceback__)
            if not frame.filename.startswith("<frozen ") and frame.filename != __file__
        ]
        if not frames:
            return argparse.ArgumentTypeError(f"cannot import {module_name!r}: {error}")
        frame = frames[-1]
        where = f'"{frame.filename}", line {frame.lineno}, in {frame.name}'
        if frame.line:
            where += f": {frame.line}"
    return argparse.ArgumentTypeError(f"cannot import {module_name!r}: {error}{_AT}{where}")


_AT: Final = "\n  File "  # the second line of an error: where it happened


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
    "fd": (_number, "FD"),
    "metrics": (_number, "PORT"),
}


def _shown(default: Any) -> str:
    if default is None or (isinstance(default, tuple) and not default):
        return "none"
    if default == "":
        return "''"
    if isinstance(default, tuple):
        return ",".join(str(part) for part in default)
    return str(default)


class _Parser(argparse.ArgumentParser):
    """argparse, but an error is one line: `PROG: error: WHY` (and where
    in the user's code, for a module that does not import); an unknown
    flag is told which flag was probably meant."""

    def error(self, message: str) -> NoReturn:
        message, _, where = message.partition(_AT)
        if message.startswith("unrecognized arguments: "):
            message += self._did_you_mean(message.split(": ", 1)[1].split())
        second = f"  File {_one_line(where)}\n" if where else ""
        self.exit(2, f"{self.prog}: error: {_one_line(message)}\n{second}")

    def _did_you_mean(self, unknown: list[str]) -> str:
        known = [flag for action in self._actions for flag in action.option_strings]
        for word in unknown:
            if word.startswith("--"):
                close = difflib.get_close_matches(word.partition("=")[0], known, n=1)
                if close:
                    return f" (did you mean {close[0]}?)"
        return ""


def _one_line(text: str) -> str:
    return " ".join(text.splitlines())


def _help(name: str, default: Any, good: str, described: dict[str, str]) -> str:
    """A flag's help: what the option is for, what to give, its default."""
    what = described.get(name, "")
    if isinstance(default, bool):
        text = f"{what} (default: {'on' if default else 'off'})"
    elif name == "access_log":
        text = (
            f"{what}: {TYPED[name]} (default: a line per request on the httpserver.access logger)"
        )
    else:
        text = f"{what}: {TYPED.get(name, good)} (default: {_shown(default)})"
    return text.replace("%", "%%")


def parser(import_handlers: bool = True) -> argparse.ArgumentParser:
    """The argument parser, one flag per row of the options table. Without
    `import_handlers` the MODULE:FUNCTION values stay text (the reloader
    leaves the importing to the server it runs)."""
    handler: Callable[[str], Any] = _handler if import_handlers else _handler_text
    described = {**DESCRIPTIONS, **shorthand_help()}
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
        help_text = _help(name, default, good, described)
        if name == "loop":
            what = (
                f"the handler: {good}, or an ASGI 3 application (see --interface),"
                " as module:function,"
                " e.g. examples.hello_world:handle_http or myapp:app"
            )
            cli.add_argument("loop", type=handler, metavar="MODULE:FUNCTION", help=what)
        elif isinstance(default, bool):
            cli.add_argument(
                flag(name), dest=name, action=argparse.BooleanOptionalAction, help=help_text
            )
        elif name in _PARSE:
            kind, metavar = _PARSE[name]
            kind = handler if kind is _handler else kind
            cli.add_argument(flag(name), dest=name, type=kind, metavar=metavar, help=help_text)
            if name == "access_log":
                cli.add_argument(
                    "--no-access-log",
                    dest=name,
                    action="store_const",
                    const=None,
                    help="write no access log line",
                )
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
    log = cli.add_argument_group("the log (see the Operations guide, Logging)")
    log.add_argument(
        "--log-level",
        choices=_LEVELS,
        help="the level of the actors and httpserver loggers; the access log has its own"
        " (default: warning)",
    )
    log.add_argument(
        "--log-format",
        choices=("text", "json"),
        help="text lines, or one JSON object per line, an error's traceback in its"
        ' "traceback" field (default: text)',
    )
    development = cli.add_argument_group("development")
    development.add_argument(
        "--reload",
        action="store_true",
        help="restart the server when a .py file changes (needs the reload extra:"
        " pip install 'trio-misultin[reload]')",
    )
    development.add_argument(
        "--reload-dir",
        action="append",
        metavar="DIR",
        help="a directory --reload watches; repeat it for more (default: the current one)",
    )
    return cli


def _handler_text(text: str) -> str:
    """MODULE:FUNCTION, checked for its form but not imported."""
    module_name, colon, attrs = text.partition(":")
    if not colon or not module_name or not attrs:
        raise argparse.ArgumentTypeError(f"{text!r} is not MODULE:FUNCTION")
    return text


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; the exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if "--reload" in argv and "--help" not in argv and "-h" not in argv:
        from ._reload import reload_main

        status: int = reload_main(parser(import_handlers=False), argv)
        return status
    cli = parser()
    given = sys.argv[1:] if argv is None else list(argv)
    clash = shadowed()  # websocket-client's `websocket` in place of ours, say
    if clash is not None and any(arg.startswith("--ws") for arg in given):
        cli.error(clash)  # its flags are missing: say why, not "unrecognized --ws"
    args = vars(cli.parse_args(given))
    node = node_settings(cli, args)
    level = args.pop("log_level", None)
    log_format = args.pop("log_format", "text")
    args.pop("reload", None)
    args.pop("reload_dir", None)
    interface = args.pop("interface", "auto")
    if interface == "asgi" or (interface == "auto" and positional_arity(args["loop"]) == 3):
        args["asgi"] = args.pop("loop")
    if "access_log" not in args:  # the default from the command line: a line per request
        args["access_log"] = _log_lines.access_line
        _log_lines.enable_access_log()
    try:
        options = Options.of(args)  # refused here with the words `start` would use
        if options.metrics is not None:
            check_available()
            check_workers(options.workers, node.cluster is not None)
    except (TypeError, ValueError, ShadowedError) as exc:
        cli.error(str(exc))
    if log_format == "json":
        _log_lines.use_json()
    if os.environ.get(LIFELINE_ENV):  # run by --reload: end with the watcher
        watch_lifeline()
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
    if where["metrics"] is not None:
        print(f"metrics on http://{host}:{where['metrics']}/metrics", flush=True)
    await actors.receive()  # until SIGTERM or Ctrl-C drains the server and exits
