"""misultin's WebSocket example: a page that talks to its own server.

    python -m examples.websocket_example --port 8080
    then open http://localhost:8080/ in a browser

GET / serves a page whose script opens ws://HOST:PORT/service (the host and
port the page came from: localhost, 127.0.0.1 or a name behind a proxy), sends
"hello server!" as soon as the socket is open, and appends every event to
the page with a timestamp. Each socket is served by its own handler
process: every ("browser", data) message is answered "received 'data'",
and after 5 seconds without a message the handler sends "pushing!" (the
wait starts again after every message), as misultin's example did.
"""

from __future__ import annotations

import actors
import httpserver
import websocket
from examples._cli import arguments, serve_forever

PAGE = """<!DOCTYPE html>
<html>
<head>
<meta charset="utf-8">
<title>trio-misultin WebSocket example</title>
<script>
// The page's own host and port, and wss:// when the page came over https://.
var SCHEME = location.protocol === "https:" ? "wss://" : "ws://";
function addStatus(text) {
  var line = document.createElement("div");
  line.textContent = new Date() + ": " + text;
  document.getElementById("status").appendChild(line);
}
function ready() {
  if (!("WebSocket" in window)) {
    addStatus("sorry, your browser does not support websockets.");
    return;
  }
  var ws = new WebSocket(SCHEME + location.host + "/service");
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
</script>
</head>
<body onload="ready();">
<div id="status"></div>
</body>
</html>
"""


async def handle_http(req: httpserver.Req) -> None:
    await req.ok(PAGE, {"Content-Type": "text/html; charset=utf-8"})


async def handle_websocket(ws: websocket.Ws, push_after: float = 5.0) -> None:
    """Answer each message; push after `push_after` seconds of silence."""
    while True:
        try:
            match await actors.receive(timeout=push_after):
                case ("browser", data):
                    ws.send(f"received '{data}'")
                case _:
                    pass  # anything else is ignored, as in misultin
        except actors.ReceiveTimeout:
            ws.send("pushing!")


if __name__ == "__main__":
    serve_forever(__doc__, parser=arguments(__doc__), loop=handle_http, ws_loop=handle_websocket)
