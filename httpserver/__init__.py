"""misultin's HTTP server on trio and h11 (or httptools): one process per connection.

    import actors, httpserver

    async def handle_http(req):
        await req.ok("Hello World.")

    async def main():
        httpserver.start_link(port=8080, loop=handle_http)
        await actors.receive()

    actors.run(main)

`start` / `start_link` take the options `StartOptions` lists (typed, so an
editor completes them), check each, and return the listener's Pid.
"""

import actors.lowlevel

from ._errors import HttpError as HttpError
from ._errors import ResponseError as ResponseError
from ._forms import Part as Part
from ._headers import Headers as Headers
from ._listener import info as info
from ._listener import port as port
from ._listener import start as start
from ._listener import start_link as start_link
from ._listener import stop as stop
from ._options import Options as Options
from ._req import AccessLog as AccessLog
from ._req import Req as Req
from ._req import get_variable as get_variable
from ._start_options import StartOptions as StartOptions
from ._workers import WorkerStartError as WorkerStartError

actors.lowlevel.add_logger("httpserver")  # formatted as actors' own under actors.run

__all__ = [
    "AccessLog",
    "Headers",
    "HttpError",
    "Options",
    "Part",
    "Req",
    "ResponseError",
    "StartOptions",
    "WorkerStartError",
    "get_variable",
    "info",
    "port",
    "start",
    "start_link",
    "stop",
]
