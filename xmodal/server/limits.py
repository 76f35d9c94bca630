"""Request-size limits enforced while the body streams in, before anything is parsed or stored."""
from __future__ import annotations

import json

from xmodal.errors import TooLarge
from xmodal.server.http_errors import error_body


class BodyLimitMiddleware:
    """Refuse bodies over ``max_bytes``: at once from Content-Length, else as soon as the stream passes it.

    Pure ASGI so the check happens before FastAPI or the multipart parser buffer anything.
    """

    def __init__(self, app, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = None
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = None
        if declared is not None and declared > self.max_bytes:
            return await _reject(send, self._message(declared))
        seen = 0
        limit = self.max_bytes

        async def limited_receive():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise TooLarge(self._message(seen))
            return message

        await self.app(scope, limited_receive, send)

    def _message(self, n: int) -> str:
        return f"request body of {n} bytes exceeds the server limit of {self.max_bytes} bytes"


async def _reject(send, message: str) -> None:
    body = json.dumps(error_body(TooLarge.code, message)).encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})
