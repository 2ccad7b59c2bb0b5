"""A Starlette app for the ASGI tests (no FastAPI): JSON with path and query
parameters, a streaming response, a background task, a WebSocket route, and
a route that calls a process (`actors.call`) when served by httpserver."""

from __future__ import annotations

from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, StreamingResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

done: list[str] = []


async def _record(name: str) -> None:
    done.append(name)


async def user(request: Request) -> JSONResponse:
    name = request.path_params["name"]
    greeting = request.query_params.get("greeting", "hello")
    return JSONResponse(
        {"user": name, "greeting": greeting}, background=BackgroundTask(_record, name)
    )


async def background_done(request: Request) -> JSONResponse:
    return JSONResponse({"done": done})


async def _parts() -> AsyncIterator[str]:
    for part in ("one ", "two ", "three"):
        yield part


async def stream(request: Request) -> StreamingResponse:
    return StreamingResponse(_parts(), media_type="text/plain")


async def upload(request: Request) -> PlainTextResponse:
    body = await request.body()
    return PlainTextResponse(f"{len(body)} bytes")


async def echo(websocket: WebSocket) -> None:
    await websocket.accept()
    while True:
        text = await websocket.receive_text()
        if text == "bye":
            await websocket.close(code=4001)
            return
        await websocket.send_text(f"echo {text}")


app = Starlette(
    routes=[
        Route("/users/{name}", user),
        Route("/done", background_done),
        Route("/stream", stream),
        Route("/upload", upload, methods=["POST"]),
        WebSocketRoute("/ws", echo),
    ]
)
