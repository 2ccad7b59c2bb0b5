"""Cookies: reading the Cookie header, writing Set-Cookie (RFC 6265)."""

from __future__ import annotations

import re
import time
from email.utils import formatdate
from typing import Final
from urllib.parse import quote, unquote

__all__ = ["format_set_cookie", "parse"]

_TOKEN: Final = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # fullmatch: `$` passes a final LF
# RFC 6265 cookie-octets, minus '%' so that quoting stays reversible.
_SAFE: Final = "!#$&'()*+-./:<=>?@[]^_`{|}~"
_ATTRIBUTE_BAD: Final = re.compile(r"[;\r\n\x00]")


def parse(headers: list[str]) -> dict[str, str]:
    """Every `name=value` of the Cookie header(s); the first of a name wins."""
    cookies: dict[str, str] = {}
    for header in headers:
        for item in header.split(";"):
            name, sep, value = item.strip().partition("=")
            name = name.strip()
            if not sep or not name:
                continue
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] == '"':
                value = value[1:-1]
            cookies.setdefault(name, unquote(value))
    return cookies


def format_set_cookie(
    name: str,
    value: str,
    max_age: int | None,
    path: str | None,
    domain: str | None,
    secure: bool,
    http_only: bool,
    same_site: str | None,
) -> bytes:
    """One `Set-Cookie:` header line; the value is percent-quoted."""
    if not _TOKEN.fullmatch(name):
        raise ValueError(f"invalid cookie name {name!r}")
    parts = [f"{name}={quote(value, safe=_SAFE)}"]
    if max_age is not None:
        parts.append(f"Expires={formatdate(time.time() + max_age, usegmt=True)}")
        parts.append(f"Max-Age={int(max_age)}")
    for attribute, given in (("Path", path), ("Domain", domain), ("SameSite", same_site)):
        if given is not None:
            if _ATTRIBUTE_BAD.search(given):
                raise ValueError(f"invalid cookie {attribute}: {given!r}")
            parts.append(f"{attribute}={given}")
    if secure:
        parts.append("Secure")
    if http_only:
        parts.append("HttpOnly")
    return f"Set-Cookie: {'; '.join(parts)}\r\n".encode("latin-1")
