"""A FastAPI app for the ASGI tests, served by `python -m httpserver
tests.asgi_fastapi_app:app` and by uvicorn on the same module: JSON routes,
path and query parameters, validation (422), a streaming response, a
background task, a WebSocket route, and its own scope."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from fastapi import BackgroundTasks, FastAPI, Request, WebSocket
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

app = FastAPI()
done: list[str] = []  # what the background tasks did, in this OS process


class Item(BaseModel):
    name: str
    price: float


@app.get("/items/{item_id}")
async def read_item(item_id: int, q: str | None = None) -> dict[str, Any]:
    return {"item_id": item_id, "q": q}


async def _record(name: str) -> None:
    done.append(name)


@app.post("/items")
async def create_item(item: Item, tasks: BackgroundTasks) -> dict[str, Any]:
    tasks.add_task(_record, item.name)
    return {"name": item.name, "price": item.price}


@app.get("/done")
async def background_done() -> dict[str, Any]:
    return {"done": done}


async def _parts() -> AsyncIterator[bytes]:
    for part in (b"alpha\n", b"beta\n", b"gamma\n"):
        yield part


@app.get("/stream")
async def stream() -> StreamingResponse:
    return StreamingResponse(_parts(), media_type="text/plain")


@app.get("/scope")
async def scope(request: Request) -> dict[str, Any]:
    """The server's keys of the http scope (the framework adds its own later)."""
    shown: dict[str, Any] = {"keys": sorted(request.scope)}
    for key in ("type", "http_version", "method", "scheme", "path", "root_path"):
        shown[key] = request.scope[key]
    for key in ("raw_path", "query_string"):
        shown[key] = request.scope[key].decode("latin-1")
    shown["headers"] = [[k.decode(), v.decode()] for k, v in request.scope["headers"]]
    return shown


@app.websocket("/ws")
async def echo(websocket: WebSocket) -> None:
    await websocket.accept()
    while True:
        text = await websocket.receive_text()
        if text == "bye":
            await websocket.close(code=4001)
            return
        await websocket.send_text(f"echo {text}")
