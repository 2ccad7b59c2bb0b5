"""Chat rooms: each room is a process group of socket handlers.

    python -m examples.chat --port 8080
    then open http://localhost:8080/ in two or three browser tabs

The page asks for a room and a name and opens ws://HOST/chat/ROOM/NAME
(room and name: 1 to 32 letters, digits, "_" or "-"). The socket's handler
joins the room's process group with `actors.join(group)` and tells the room
"* NAME joined ROOM (N here)". Every text message it gets is fanned out to
everyone in the room, its sender too, as "NAME: text", with one
`websocket.broadcast(group, text)`: the frame is built once and goes to
each member's socket. Sockets in other rooms get nothing.

The server runs with ws_autoexit=False, so when a socket closes its
handler gets "closed": it leaves the group and tells the room
"* NAME left ROOM (N here)". (A handler that died instead would leave its
groups all the same, without a word.) A socket at any other path, or with
a bad room or name, is closed with 1008 and a reason saying why.
"""

from __future__ import annotations

import re

import actors
import httpserver
import websocket
from examples._cli import serve_forever

WORD = re.compile(r"[\w-]{1,32}")

PAGE = """<!DOCTYPE html>
<html>
<head>
<meta charset="utf-8">
<title>trio-misultin chat</title>
<script>
// Named apart from the form's controls: inside an inline handler such as
// onsubmit="...", a name is looked up on the form first, and the form has
// controls with the ids "join", "leave" and "send".
var ws = null;
function addLine(text) {
  var line = document.createElement("div");
  line.textContent = new Date().toLocaleTimeString() + " " + text;
  document.getElementById("log").appendChild(line);
}
function joinRoom() {
  if (ws !== null) { ws.close(); }
  var room = document.getElementById("room").value;
  var name = document.getElementById("name").value;
  var scheme = location.protocol === "https:" ? "wss://" : "ws://";
  ws = new WebSocket(scheme + location.host + "/chat/" +
                     encodeURIComponent(room) + "/" + encodeURIComponent(name));
  ws.onmessage = function (event) { addLine(event.data); };
  ws.onclose = function (event) {
    addLine("* disconnected" + (event.reason ? ": " + event.reason : ""));
  };
}
function leaveRoom() {
  if (ws !== null) { ws.close(); ws = null; }
}
function sendMessage() {
  var field = document.getElementById("message");
  if (ws !== null && ws.readyState === WebSocket.OPEN && field.value) {
    ws.send(field.value);
    field.value = "";
  }
}
</script>
</head>
<body>
<form onsubmit="joinRoom(); return false;">
room <input type="text" id="room" value="lobby">
name <input type="text" id="name" value="guest">
<input type="submit" id="join" value="join">
<input type="button" id="leave" value="leave" onclick="leaveRoom();">
</form>
<form onsubmit="sendMessage(); return false;">
<input type="text" id="message" size="60">
<input type="submit" id="send" value="send">
</form>
<div id="log"></div>
</body>
</html>
"""


def room_group(room: str) -> tuple[str, str]:
    """The process group of a room's handlers."""
    return ("chat", room)


async def handle_http(req: httpserver.Req) -> None:
    if req.path != "/":
        raise httpserver.HttpError(404)
    await req.ok(PAGE, {"Content-Type": "text/html; charset=utf-8"})


def here(group: tuple[str, str]) -> int:
    return len(actors.members(group))


async def handle_websocket(ws: websocket.Ws) -> None:
    """One member of one room, from joining to leaving."""
    match ws.path.split("/"):
        case ["", "chat", room, name]:
            pass
        case _:
            ws.close(1008, "connect to /chat/ROOM/NAME")
            return
    if WORD.fullmatch(room) is None or WORD.fullmatch(name) is None:
        ws.close(1008, "room and name: 1 to 32 letters, digits, _ or -")
        return
    group = room_group(room)
    actors.join(group)
    websocket.broadcast(group, f"* {name} joined {room} ({here(group)} here)")
    while True:
        match await actors.receive():
            case ("browser", str(text)):
                websocket.broadcast(group, f"{name}: {text}")
            case ("browser", bytes()):
                ws.send("* only text messages are relayed")
            case "closed":
                break
            case _:
                pass
    actors.leave(group)
    websocket.broadcast(group, f"* {name} left {room} ({here(group)} here)")


if __name__ == "__main__":
    serve_forever(__doc__, loop=handle_http, ws_loop=handle_websocket, ws_autoexit=False)
