"""A cap on a request's head (request line and headers), for the HTTP server.

uvicorn parses with httptools when it is installed (it comes with rasa-sdk's sanic), and
httptools gathers a header however long it grows, copying it again at every read: one
200 MB header line, sent before any body, kept a server busy for 118 s of CPU and took
444 MB. :class:`HeadLimitedHttpTools` counts the bytes of a head still incomplete and,
past :data:`MAX_HEAD`, answers 431 and closes. uvicorn's other parser, h11, has such a
cap of its own (``h11_max_incomplete_event_size``), set to the same value.
"""

from __future__ import annotations

import asyncio
from typing import Any

MAX_HEAD = 64 * 1024
"""Bytes of request line and headers; Telegram's and Slack's are 1–2 KiB."""

REFUSAL = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
    b"content-type: text/plain; charset=utf-8\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
)

HTTP_PROTOCOL: type[asyncio.Protocol] | str
"""What ``uvicorn.Config(http=…)`` gets: the capped httptools parser, or h11."""

try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
except ImportError:  # pragma: no cover - httptools missing: uvicorn would use h11 anyway
    HTTP_PROTOCOL = "h11"
else:

    class HeadLimitedHttpTools(HttpToolsProtocol):
        """uvicorn's httptools protocol, refusing a head over :data:`MAX_HEAD` bytes.

        A head is counted from the read it begins in until the parser reports it
        complete; a read that ends a message and begins the next head is not counted
        (the cap is then reached one read later at most).
        """

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._in_head = True
            self._head = 0
            self._message_ended = False

        def data_received(self, data: bytes) -> None:
            self._message_ended = False
            super().data_received(data)
            if self._message_ended:
                self._head = 0
            elif self._in_head:
                self._head += len(data)
                if self._head > MAX_HEAD and not self.transport.is_closing():
                    self.transport.write(REFUSAL)
                    self.transport.close()

        def on_headers_complete(self) -> None:
            self._in_head = False
            super().on_headers_complete()

        def on_message_complete(self) -> None:
            self._in_head = True
            self._message_ended = True
            super().on_message_complete()

    HTTP_PROTOCOL = HeadLimitedHttpTools
