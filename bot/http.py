"""The one ASGI app: channel webhooks, ``GET /healthz`` and ``GET /metrics``.

Request bodies are never logged: they carry customers' personal data. Every route's body
is limited before it is read (:mod:`bot.body_limit`): a channel's route brings its own
limit, any other route gets ``max_body``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from bot.body_limit import BodyLimit
from bot.metrics import OUTBOX_ROWS
from storage.sql import SqlStore

log = logging.getLogger("supportbot.http")


def make_http_app(
    store: SqlStore,
    channel_routes: Sequence[BaseRoute],
    channels: list[str],
    *,
    max_body: int,
) -> Starlette:
    async def healthz(_: Request) -> Response:
        try:
            await store.ping()
        except Exception as exc:
            log.warning("health check: database unavailable: %s", type(exc).__name__)
            return JSONResponse({"status": "unavailable", "database": "down"}, status_code=503)
        return JSONResponse({"status": "ok", "database": "ok", "channels": channels})

    async def metrics(_: Request) -> Response:
        try:
            counts = await store.outbox.counts()
        except Exception:
            counts = {}
        for status in ("pending", "sent", "failed"):
            OUTBOX_ROWS.labels(status).set(counts.get(status, 0))
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    routes: list[BaseRoute] = [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
        *channel_routes,
    ]
    limit = Middleware(BodyLimit, default=max_body, routes=routes)
    return Starlette(routes=routes, middleware=[limit])
