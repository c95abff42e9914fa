"""python-telegram-bot's HTTP requests over aiohttp instead of httpx.

Why: with the storage path made cheap, httpx (with httpcore, anyio and h11 beneath it)
was the largest single cost of an update end to end — ~40 % of the bot's CPU samples
(``docs/BENCHMARKS.md``). aiohttp is already here for Slack, and ptb accepts any
:class:`telegram.request.BaseRequest`. ``TELEGRAM_HTTP_CLIENT=httpx`` switches back to
ptb's own :class:`~telegram.request.HTTPXRequest`.
"""

from __future__ import annotations

import aiohttp
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

_DEFAULT = type(BaseRequest.DEFAULT_NONE)
"""ptb passes ``DEFAULT_NONE`` (a ``DefaultValue``) for "use this object's default"."""


class AiohttpRequest(BaseRequest):
    """One aiohttp session (a pool of ``pool_size`` keep-alive connections)."""

    def __init__(
        self,
        pool_size: int = 64,
        read_timeout: float | None = 5.0,
        connect_timeout: float | None = 5.0,
        pool_timeout: float | None = 1.0,
    ) -> None:
        self._pool_size = pool_size
        self._read_timeout = read_timeout
        self._connect_timeout = connect_timeout
        self._pool_timeout = pool_timeout
        self._session: aiohttp.ClientSession | None = None

    @property
    def read_timeout(self) -> float | None:
        return self._read_timeout

    async def initialize(self) -> None:
        """Open the session (once: ptb initialises each request object it was given)."""
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=self._pool_size, ttl_dns_cache=300)
            self._session = aiohttp.ClientSession(
                connector=connector, headers={"User-Agent": self.USER_AGENT}
            )

    async def shutdown(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: object = BaseRequest.DEFAULT_NONE,
        write_timeout: object = BaseRequest.DEFAULT_NONE,
        connect_timeout: object = BaseRequest.DEFAULT_NONE,
        pool_timeout: object = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        """POST the parameters form-encoded (multipart with files), as HTTPXRequest does.

        aiohttp has no write timeout; a slow upload is bounded by the read timeout."""
        if self._session is None:  # like HTTPXRequest, usable before initialize()
            await self.initialize()
        assert self._session is not None
        if self._session.closed:
            raise RuntimeError("This AiohttpRequest was shut down")
        timeout = aiohttp.ClientTimeout(
            total=None,
            # Waiting for a free pooled connection plus opening one, if needed.
            connect=_or(pool_timeout, self._pool_timeout),
            sock_connect=_or(connect_timeout, self._connect_timeout),
            sock_read=_or(read_timeout, self._read_timeout),
        )
        try:
            async with self._session.request(
                method, url, data=_body(request_data), timeout=timeout
            ) as response:
                return response.status, await response.read()
        except TimeoutError as err:
            raise TimedOut from err
        except aiohttp.ClientError as err:
            raise NetworkError(f"aiohttp.{type(err).__name__}: {err}") from err


def _or(value: object, default: float | None) -> float | None:
    if isinstance(value, _DEFAULT):
        return default
    return value if isinstance(value, float | int) else None


def _body(request_data: RequestData | None) -> aiohttp.FormData | dict[str, str] | None:
    if request_data is None:
        return None
    files = request_data.multipart_data
    if not files:
        return request_data.json_parameters
    form = aiohttp.FormData()
    for name, value in request_data.json_parameters.items():
        form.add_field(name, value)
    for name, part in files.items():
        filename, content, *mimetype = part
        form.add_field(
            name, content, filename=filename, content_type=mimetype[0] if mimetype else None
        )
    return form
