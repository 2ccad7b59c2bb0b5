"""Hello World over HTTPS (misultin_ssl).

    pip install trustme
    python -m examples.ssl --port 8443 --ca-file ca.pem
    curl --cacert ca.pem https://localhost:8443/

Every request is answered "Hello World SSL." over TLS. The server option
`ssl` takes an `ssl.SSLContext` (or {"certfile", "keyfile", "password"});
the connection process then speaks TLS through `trio.SSLStream`.

No key is kept anywhere: at start the example makes a throwaway
certificate authority with the `trustme` package (a test dependency, not
one of trio-misultin's: `pip install trustme`), issues a certificate for
localhost and 127.0.0.1 from it, and writes only the CA's certificate to
--ca-file (default: a file in a new temporary directory, printed at
start), so that a client can trust the server.
"""

from __future__ import annotations

import argparse
import ssl
import tempfile
from pathlib import Path
from typing import Any

import trustme

import httpserver
from examples._cli import arguments, serve_forever


async def handle_http(req: httpserver.Req) -> None:
    await req.ok("Hello World SSL.")


def server_context(ca_file: Path) -> ssl.SSLContext:
    """A TLS context with a certificate for localhost from a new CA whose
    certificate is written to `ca_file`."""
    ca = trustme.CA()
    ca.cert_pem.write_to_path(str(ca_file))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost", "127.0.0.1", "::1").configure_cert(context)
    return context


def tls_options(args: argparse.Namespace) -> dict[str, Any]:
    ca_file = Path(args.ca_file or Path(tempfile.mkdtemp(prefix="ca-")) / "ca.pem").resolve()
    context = server_context(ca_file)
    print(f"CA certificate written to {ca_file}", flush=True)
    return {"ssl": context}


if __name__ == "__main__":
    parser = arguments(__doc__)
    parser.add_argument(
        "--ca-file", help="where to write the CA certificate (default: a temporary file)"
    )
    serve_forever(parser=parser, loop=handle_http, options=tls_options)
