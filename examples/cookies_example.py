"""Set a cookie, then delete it on the next visit (misultin_cookies_example).

    python -m examples.cookies_example --port 8080    # then reload the page

Without the cookie "misultin_test_cookie" the answer sets it for a year
(`req.set_cookie(name, value, max_age=...)`); with it, the answer shows
its value (`req.cookies`, values unquoted) and deletes it
(`req.delete_cookie(name)`: an empty value with Max-Age=0).
"""

from __future__ import annotations

import httpserver
from examples._cli import serve_forever

COOKIE = "misultin_test_cookie"
ONE_YEAR = 365 * 24 * 3600


async def handle_http(req: httpserver.Req) -> None:
    value = req.cookies.get(COOKIE)
    if value is None:
        req.set_cookie(COOKIE, "value of the test cookie", max_age=ONE_YEAR)
        await req.ok("A cookie has been set. Refresh the browser to see it.")
    else:
        req.delete_cookie(COOKIE)
        await req.ok(
            f'The set cookie value was set to "{value}", and has now been removed.'
            " Refresh the browser to see this."
        )


if __name__ == "__main__":
    serve_forever(__doc__, loop=handle_http)
