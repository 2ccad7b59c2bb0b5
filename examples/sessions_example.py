"""A per-session counter kept on the server (misultin_sessions_example).

    python -m examples.sessions_example --port 8080    # then reload the page

`await req.session()` returns (session id, state) for the client: a new
session (state None) sets the cookie "misultin_session" on the answer; the
browser sends it back and the same session is found again. The state here
is a counter saved with `await req.save_session_state(id, state)`; the
answer is `Session Id is: "ID", counter is: N`. A session idle for
`sessions_expire` seconds (60 here, 600 by default) is forgotten.
"""

from __future__ import annotations

import httpserver
from examples._cli import serve_forever


async def handle_http(req: httpserver.Req) -> None:
    session_id, state = await req.session()
    count = 1 if state is None else state + 1
    await req.save_session_state(session_id, count)
    await req.ok(f'Session Id is: "{session_id}", counter is: {count}')


if __name__ == "__main__":
    serve_forever(__doc__, sessions_expire=60, loop=handle_http)
