"""Send a file as an attachment (misultin_file).

    python -m examples.file --port 8080
    curl -OJ http://127.0.0.1:8080/    # saves 1.png

Every request is answered with examples/assets/1.png through
`await req.file(path, attachment=True)`: its Content-Type from the
extension (image/png), Content-Length, Last-Modified, and
`Content-Disposition: attachment; filename="1.png"` so that a browser
saves it rather than shows it. The file goes out in blocks, never read
whole into memory; a client that sends If-Modified-Since with the file's
date gets 304.
"""

from __future__ import annotations

from pathlib import Path

import httpserver
from examples._cli import serve_forever

PICTURE = Path(__file__).resolve().parent / "assets" / "1.png"


async def handle_http(req: httpserver.Req) -> None:
    await req.file(str(PICTURE), attachment=True)


if __name__ == "__main__":
    serve_forever(__doc__, loop=handle_http)
