"""A Japanese string posted by a form and read back (misultin_unicode).

    python -m examples.unicode --port 8080    # then open http://127.0.0.1:8080/

GET / is a UTF-8 page with a form whose hidden field "data" holds
"こんにちは"; posting it to / answers with the string as decoded by
`await req.parse_post()` (UTF-8 by default, `encoding=` otherwise) and its
length in characters: 5, not the 15 bytes it takes in UTF-8. A POST
without "data" answers "No data value submitted."; other paths "Page not
found.".
"""

from __future__ import annotations

from html import escape

import httpserver
from examples._cli import serve_forever

HTML = {"Content-Type": "text/html; charset=utf-8"}
GREETING = "こんにちは"

FORM = f"""<!DOCTYPE html>
<html>
<head><meta charset="utf-8"><title>Unicode form</title></head>
<body>
<form action="/" method="post">
<input type="hidden" name="data" value="{GREETING}">
<input type="submit" value="GO!">
</form>
</body>
</html>
"""


def shown(value: str) -> str:
    """The page that shows a posted string and its length."""
    return (
        '<!DOCTYPE html>\n<html>\n<head><meta charset="utf-8"></head>\n<body>\n'
        f'<p>Unicode string is: "{escape(value)}", and its length is {len(value)}</p>\n'
        "</body>\n</html>\n"
    )


async def handle_http(req: httpserver.Req) -> None:
    resource = req.resource(lowercase=True, urldecode=True)
    if resource:
        await req.ok("Page not found.")
    elif req.method in ("GET", "HEAD"):
        await req.ok(FORM, HTML)
    elif req.method == "POST":
        value = httpserver.get_variable("data", await req.parse_post())
        if value is None:
            await req.ok("No data value submitted.")
        else:
            await req.ok(shown(value), HTML)
    else:
        await req.ok("Page not found.")


if __name__ == "__main__":
    serve_forever(__doc__, loop=handle_http)
