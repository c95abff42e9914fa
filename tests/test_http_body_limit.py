"""The body limit of the one HTTP app, on every route: its own limit or the default.

In-process through httpx's ASGI transport (what the app does with the limit); what the
server and the memory make of 400 MB bodies is ``tests/reliability/test_body_limits.py``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bot.body_limit import LimitedRoute
from bot.http import make_http_app
from storage.sql import open_store

DEFAULT = 1000
OWN = 5000


async def _careless(request: Request) -> Response:
    """Like a webhook: any failure while reading the body is this endpoint's own 400."""
    try:
        body = await request.body()
    except Exception:
        return Response(status_code=400)
    return Response(str(len(body)))


async def _picky(request: Request) -> Response:
    """Refuses on a header alone, before reading the body (a wrong webhook secret)."""
    if request.headers.get("x-secret") != "right":
        return Response(status_code=403)
    return Response(str(len(await request.body())))


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    store = await open_store(f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}")
    routes = [
        Route("/added-later", _careless, methods=["POST"]),
        LimitedRoute("/own", _careless, methods=["POST"], max_body=OWN),
        LimitedRoute("/picky", _picky, methods=["POST"], max_body=OWN),
    ]
    app = make_http_app(store, routes, ["test"], max_body=DEFAULT)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://bot"
    ) as client:
        yield client
    await store.close()


async def _pieces(body: bytes) -> AsyncIterator[bytes]:
    for start in range(0, len(body), 300):
        yield body[start : start + 300]


@pytest.mark.parametrize("chunked", [False, True], ids=["Content-Length", "chunked"])
@pytest.mark.parametrize(("path", "limit"), [("/added-later", DEFAULT), ("/own", OWN)])
async def test_each_route_takes_its_limit_to_the_byte(
    client: httpx.AsyncClient, path: str, limit: int, chunked: bool
) -> None:
    for size, expected in ((limit - 1, 200), (limit, 200), (limit + 1, 413)):
        body = b"x" * size
        response = await client.post(path, content=_pieces(body) if chunked else body)
        assert response.status_code == expected, size - limit
        if expected == 200:
            assert response.text == str(size)
        else:  # the endpoint's own "except Exception: 400" never saw the cut
            assert response.text == "Request body too large\n"
            assert response.headers["connection"] == "close"


async def test_a_route_without_a_body_keeps_its_connection(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert "connection" not in response.headers
    assert (await client.post("/healthz", content=b"x" * (DEFAULT + 1))).status_code == 413


async def test_an_answer_before_the_body_was_read_closes_the_connection(
    client: httpx.AsyncClient,
) -> None:
    refused = await client.post("/picky", content=b"x" * 100, headers={"x-secret": "wrong"})
    assert refused.status_code == 403
    assert refused.headers["connection"] == "close"  # the rest of the body is not read
    accepted = await client.post("/picky", content=b"x" * 100, headers={"x-secret": "right"})
    assert accepted.status_code == 200
    assert "connection" not in accepted.headers
