"""Hello World: every request is answered "Hello World." (misultin_hello_world).

python -m examples.hello_world --port 8080
"""

from __future__ import annotations

import httpserver
from examples._cli import serve_forever


async def handle_http(req: httpserver.Req) -> None:
    await req.ok("Hello World.")


if __name__ == "__main__":
    serve_forever(__doc__, loop=handle_http)
