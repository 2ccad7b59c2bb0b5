"""The pages of examples.page_dispatcher: each is NAME.html, served at
/NAME.html, and NAME.py, whose `async def handle_websocket(ws)` serves the
page's socket at /ws/NAME. These modules are not programs of their own."""
