"""A Rasa action server (its ``/webhook`` protocol) whose order lookup takes as long as
the test says: the shop's backend being slow, on 127.0.0.1."""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.standins import LocalServer, serve_locally

SHIPPED = [
    {"event": "slot", "name": "order_found", "value": True},
    {"event": "slot", "name": "order_status", "value": "shipped"},
    {"event": "slot", "name": "eta", "value": "tomorrow"},
    {"event": "slot", "name": "carrier", "value": "DHL"},
    {"event": "slot", "name": "tracking_url", "value": "https://track.example/1"},
]


class SlowActionServer:
    """``order_status`` answers "shipped" once :attr:`release` is set."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.calls: list[str] = []
        self.port = 0
        self._server: LocalServer | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _webhook(self, request: Request) -> JSONResponse:
        body: dict[str, Any] = await request.json()
        name = body.get("next_action", "")
        self.calls.append(name)
        if name != "order_status":
            return JSONResponse({"error": f"no action {name}"}, status_code=404)
        await self.release.wait()
        return JSONResponse({"events": SHIPPED, "responses": []})

    async def __aenter__(self) -> SlowActionServer:
        app = Starlette(routes=[Route("/webhook", self._webhook, methods=["POST"])])
        self._server, self._task, self.port = await serve_locally(app)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None and self._task is not None
        self.release.set()
        self._server.should_exit = True
        await self._task
