"""Read one query-string variable (misultin_get_variable).

    python -m examples.get_variable --port 8080
    curl 'http://127.0.0.1:8080/?value=42'

`req.parse_qs()` gives the query as (key, value) pairs and
`httpserver.get_variable("value", pairs)` picks one (None if absent). The
answer is XML: `<misultin_test><value>42</value></misultin_test>`, or
`<misultin_test><error>no value specified</error></misultin_test>`.
Unlike misultin, the value is XML-escaped.
"""

from __future__ import annotations

from xml.sax.saxutils import escape

import httpserver
from examples._cli import serve_forever

XML = {"Content-Type": "text/xml"}


async def handle_http(req: httpserver.Req) -> None:
    value = httpserver.get_variable("value", req.parse_qs())
    if value is None:
        await req.ok("<misultin_test><error>no value specified</error></misultin_test>", XML)
    else:
        await req.ok(f"<misultin_test><value>{escape(value)}</value></misultin_test>", XML)


if __name__ == "__main__":
    serve_forever(__doc__, loop=handle_http)
