"""The errors of `httpserver`."""

from __future__ import annotations

__all__ = ["HttpError", "ProtocolError", "ResponseError"]


class HttpError(Exception):
    """Answer with an error status. Raise it from a handler (`HttpError(404)`);
    the server raises it too, e.g. 413 when a body passes post_max_size."""

    def __init__(
        self, status: int, body: bytes | None = None, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(status)
        self.status = status
        self.body = body
        self.headers = headers


class ResponseError(RuntimeError):
    """The handler answered twice, or streamed after the end of a response."""


class ProtocolError(Exception):
    """The client broke HTTP/1.1: answer `status` and close (raised by the
    request parsers, `_parsing`; not public)."""

    def __init__(self, status: int, why: str = "") -> None:
        super().__init__(why or status)
        self.status = status
