"""misultin's second WebSocket event example: connect, disconnect and send buttons.

    python -m examples.websocket_event_example2 --port 8080
    then open http://localhost:8080/ in a browser

The page opens nothing by itself: "connect" opens ws://HOST:PORT/service (the page's own)
(and sends "hello server!"), "send" sends what is in the text field, and
"disconnect" closes the socket; every event is added to the page. The
server runs with ws_autoexit=False and the handler of
examples.websocket_event_example: each message is answered
"received 'data'", 5 seconds of silence bring "pushing!", and when the
socket closes the handler gets "closed", prints
"The WebSocket was CLOSED! (IP:PORT)" and returns. Connect and disconnect
as often as you like: each socket has its own handler.
"""

from __future__ import annotations

import httpserver
from examples._cli import serve_forever
from examples.websocket_event_example import handle_websocket

PAGE = """<!DOCTYPE html>
<html>
<head>
<meta charset="utf-8">
<title>trio-misultin WebSocket event example</title>
<script>
// The page's own host and port, and wss:// when the page came over https://.
var SCHEME = location.protocol === "https:" ? "wss://" : "ws://";
var ws = null;
function addStatus(text) {
  var line = document.createElement("div");
  line.textContent = new Date() + ": " + text;
  document.getElementById("status").appendChild(line);
}
function connect() {
  if (!("WebSocket" in window)) {
    addStatus("sorry, your browser does not support websockets.");
    return;
  }
  if (ws !== null && ws.readyState <= WebSocket.OPEN) {
    addStatus("already connected");
    return;
  }
  ws = new WebSocket(SCHEME + location.host + "/service");
  ws.onopen = function () {
    addStatus("websocket connected!");
    ws.send("hello server!");
    addStatus("sent message to server: 'hello server!'");
  };
  ws.onmessage = function (event) {
    addStatus("server sent the following: '" + event.data + "'");
  };
  ws.onclose = function () {
    addStatus("websocket was closed");
  };
}
function disconnect() {
  if (ws !== null) {
    ws.close();
  }
}
function send(text) {
  if (ws === null || ws.readyState !== WebSocket.OPEN) {
    addStatus("not connected");
    return;
  }
  ws.send(text);
  addStatus("sent message to server: '" + text + "'");
}
</script>
</head>
<body>
<input type="button" id="connect" value="connect" onclick="connect();">
<input type="button" id="disconnect" value="disconnect" onclick="disconnect();">
<input type="text" id="message" name="message">
<input type="button" id="send" value="send"
       onclick="send(document.getElementById('message').value);">
<div id="status"></div>
</body>
</html>
"""


async def handle_http(req: httpserver.Req) -> None:
    await req.ok(PAGE, {"Content-Type": "text/html; charset=utf-8"})


if __name__ == "__main__":
    serve_forever(__doc__, loop=handle_http, ws_loop=handle_websocket, ws_autoexit=False)
