"""`X-Content-Type-Options: nosniff` on every response, so no browser ever runs an answer as a script or page.

A JSON body that echoes a client's text (a name, an error detail) must stay data even if a browser is
tricked into loading it with a `<script>` or as a document; the declared content type is then final.
The review page sets its own, stricter headers (api/routers/ui.py); they are left as they are.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class NoSniffMiddleware:
    """Adds `X-Content-Type-Options: nosniff` to every HTTP response that does not carry one."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_header(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                if "x-content-type-options" not in headers:
                    headers.append("X-Content-Type-Options", "nosniff")
            await send(message)

        await self.app(scope, receive, send_with_header)
