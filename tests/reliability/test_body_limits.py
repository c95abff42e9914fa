"""Request size: a 400 MB body or header to the bot is refused at once and costs no memory.

The bot is ``supportbot run`` in a subprocess — Telegram in webhook mode and the Slack
Events API, against the stand-ins in this process — so its memory is its own: the peak
RSS (``VmHWM`` in ``/proc/PID/status``, reset through ``clear_refs`` before each request)
is compared with the RSS just before. Each huge body is streamed from a generator (the
test never holds it), once with ``Content-Length`` and once chunked, with and without the
right secret / a valid signature over all 400 MB; and one 400 MB header line. Times,
bytes sent and memory are printed in the reliability summary. What is asserted is
behaviour: the refusal's status, that the client got less than 64 MiB into the socket
before the server closed (it was not read), peak RSS growth under 20 MiB (a whole 400 MB
body read and copied would be gigabytes) — and, generously, an answer within 5 s (it
takes a fraction of a second).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import os
import socket
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from bot.channels.telegram_webhook import SECRET_HEADER, WEBHOOK_PATH
from bot.head_limit import MAX_HEAD
from bot.settings import Settings
from tests.conftest import FLOWS, PERSONAS
from tests.reliability.conftest import Tally
from tests.standins import free_port
from tests.standins.slack_api import SlackApiStandIn, SlackSender, sign
from tests.standins.telegram_api import TelegramApiStandIn, text_update, user_json

ROOT = Path(__file__).resolve().parents[2]
TELEGRAM_SECRET = "body-limit-webhook_secret"
SLACK_SECRET = "0123456789abcdef0123456789abcdef"
HUGE = 400 * 1024 * 1024
CHUNK = b"x" * (64 * 1024)
MiB = 1024 * 1024
DEFAULTS = Settings(_env_file=None)  # type: ignore[call-arg]

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@dataclass
class Served:
    """``supportbot run`` in a subprocess and the stand-ins it talks to."""

    process: asyncio.subprocess.Process
    base_url: str
    telegram: TelegramApiStandIn
    slack: SlackApiStandIn
    log: Path

    def status(self) -> dict[str, int]:
        """VmRSS and VmHWM of the bot process, in KiB."""
        found = {}
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            name, _, value = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                found[name] = int(value.split()[0])
        return found

    def reset_peak(self) -> None:
        Path(f"/proc/{self.process.pid}/clear_refs").write_text("5")  # VmHWM := VmRSS


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[Served]:
    async with TelegramApiStandIn() as telegram:
        slack = SlackApiStandIn()
        slack.add_user("U1", first_name="Ann")
        await slack.start()
        port = free_port()
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "SLACK_"))},
            "TELEGRAM_BOT_TOKEN": telegram.token,
            "TELEGRAM_API_BASE_URL": telegram.url,
            "TELEGRAM_WEBHOOK_URL": f"http://127.0.0.1:{port}{WEBHOOK_PATH}",
            "TELEGRAM_WEBHOOK_SECRET": TELEGRAM_SECRET,
            "SLACK_BOT_TOKEN": slack.token,
            "SLACK_SIGNING_SECRET": SLACK_SECRET,
            "SLACK_API_URL": slack.url,
            "SUPPORTBOT_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}",
            "SUPPORTBOT_FLOWS_DIR": str(FLOWS),
            "SUPPORTBOT_PERSONAS_DIR": str(PERSONAS),
            "SUPPORTBOT_HOT_RELOAD": "false",
            "SUPPORTBOT_HTTP_PORT": str(port),
        }
        log = tmp_path / "bot.log"
        with log.open("ab") as out:
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bot", "run",
                cwd=ROOT, env=env, stdin=asyncio.subprocess.DEVNULL, stdout=out, stderr=out,
            )  # fmt: skip
        served = Served(process, f"http://127.0.0.1:{port}", telegram, slack, log)
        try:
            await _wait_until_serving(served)
            yield served
        finally:
            if process.returncode is None:
                process.terminate()
                try:
                    await asyncio.wait_for(process.wait(), 30)
                except TimeoutError:
                    process.kill()
                    await process.wait()
            await slack.stop()


async def _wait_until_serving(served: Served) -> None:
    deadline = time.monotonic() + 60
    async with httpx.AsyncClient() as client:
        while time.monotonic() < deadline:
            assert served.process.returncode is None, served.log.read_text()[-3000:]
            with contextlib.suppress(httpx.TransportError):
                if (await client.get(served.base_url + "/healthz")).status_code == 200:
                    return
            await asyncio.sleep(0.1)
    raise AssertionError("the bot did not come up: " + served.log.read_text()[-3000:])


def _client() -> httpx.AsyncClient:
    # a connection per request: a refused body closes its connection
    return httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_keepalive_connections=0))


def _huge_body(prefix: bytes) -> Iterator[bytes]:
    """``prefix`` then filler up to :data:`HUGE` bytes, 64 KiB at a time."""
    yield prefix
    left = HUGE - len(prefix)
    while left > 0:
        chunk = CHUNK[:left]
        left -= len(chunk)
        yield chunk


def _slack_signature_of_huge(prefix: bytes, timestamp: int) -> str:
    digest = hmac.new(SLACK_SECRET.encode(), f"v0:{timestamp}:".encode(), hashlib.sha256)
    for chunk in _huge_body(prefix):
        digest.update(chunk)
    return "v0=" + digest.hexdigest()


def _post_huge(url: str, prefix: bytes, headers: dict[str, str]) -> tuple[int, int]:
    """(status, bytes handed to the socket) — by a blocking client, in a thread: it sends
    until the server closes, then reads the answer waiting in the socket. (httpx's
    AsyncClient and aiohttp stop reading while they send, so the close loses them the
    answer: they report a connection error instead.)"""
    sent = 0

    def counted() -> Iterator[bytes]:
        nonlocal sent
        for chunk in _huge_body(prefix):
            sent += len(chunk)
            yield chunk

    with httpx.Client(timeout=60) as client:
        status = client.post(url, content=counted(), headers=headers).status_code
    return status, sent


def _post(url: str, body: bytes, headers: dict[str, str], chunked: bool) -> int:
    """POST ``body`` by a blocking client (see :func:`_post_huge`); ``chunked``: as a
    generator, which httpx sends chunked (no Content-Length)."""
    pieces = (body[start : start + 100_000] for start in range(0, len(body), 100_000))
    with httpx.Client(timeout=60) as client:
        return client.post(url, content=pieces if chunked else body, headers=headers).status_code


def _telegram_update(update_id: int, chat: int, text: str, size: int | None = None) -> bytes:
    update = {"update_id": update_id, **text_update(user_json(chat, "Ann"), text)}
    body = json.dumps(update).encode()
    return body if size is None else body + b" " * (size - len(body))  # JSON allows it


def _slack_event(sender: SlackSender, text: str, size: int | None = None) -> bytes:
    body = sender.event_body(sender.dm_event("U1", text, "D1"))
    return body if size is None else body + b" " * (size - len(body))


async def _still_serving(served: Served, sender: SlackSender, update_id: int) -> None:
    """A normal Telegram update and a normal Slack event are still answered."""
    chat = 40_000 + update_id
    async with _client() as client:
        response = await client.post(
            served.base_url + WEBHOOK_PATH,
            content=_telegram_update(update_id, chat, "hi"),
            headers={SECRET_HEADER: TELEGRAM_SECRET, "Content-Type": "application/json"},
        )
    assert response.status_code == 200
    before = len(served.slack.posted)
    assert (await sender.event(sender.dm_event("U1", "hi", "D1"))).status == 200
    deadline = time.monotonic() + 20
    while not (served.telegram.messages_to(chat) and len(served.slack.posted) > before):
        assert time.monotonic() < deadline, "no reply after the huge bodies"
        await asyncio.sleep(0.05)


async def test_400_mb_bodies_are_refused_at_once_without_memory(
    served: Served, tally: Tally
) -> None:
    sender = SlackSender(served.base_url + "/slack/events", SLACK_SECRET)
    await _still_serving(served, sender, 1)  # warm: the first turn's imports are done
    slack_prefix = b'{"type": "event_callback", "event": {"type": "message", "text": "'
    stamp = int(time.time())
    valid_signature = await asyncio.to_thread(_slack_signature_of_huge, slack_prefix, stamp)
    # (name, path, headers, body prefix, status with Content-Length, status chunked)
    cases: list[tuple[str, str, dict[str, str], bytes, int, int]] = [
        # the Content-Length is refused before the endpoint looks at the secret
        ("telegram, wrong secret", WEBHOOK_PATH, {SECRET_HEADER: "wrong"}, b"{", 413, 403),
        ("telegram, right secret", WEBHOOK_PATH, {SECRET_HEADER: TELEGRAM_SECRET}, b"{", 413, 413),
        # the signature can only be checked over the whole body: never reached
        ("slack, wrong signature", "/slack/events", sign("not-the-secret", b"", stamp),
         slack_prefix, 413, 413),
        ("slack, valid signature", "/slack/events",
         {"X-Slack-Signature": valid_signature, "X-Slack-Request-Timestamp": str(stamp)},
         slack_prefix, 413, 413),
    ]  # fmt: skip
    figures = []
    for name, path, headers, prefix, *statuses in cases:
        for framing, expected in zip(("Content-Length", "chunked"), statuses, strict=True):
            request_headers = {"Content-Type": "application/json", **headers}
            if framing == "Content-Length":
                request_headers["Content-Length"] = str(HUGE)
            served.reset_peak()
            before = served.status()["VmRSS"]
            started = time.monotonic()
            status, sent = await asyncio.to_thread(
                _post_huge, served.base_url + path, prefix, request_headers
            )
            seconds = time.monotonic() - started
            grown = (served.status()["VmHWM"] - before) / 1024
            figures.append(
                f"{name} ({framing}): {status} in {seconds:.2f} s after {sent / MiB:.1f} "
                f"MiB sent, peak RSS +{grown:.1f} MiB"
            )
            assert status == expected, figures[-1]
            assert sent < 64 * MiB, figures[-1]  # refused, not read (socket buffers)
            assert seconds < 5, figures[-1]  # generous: it takes a fraction of a second
            assert grown < 20, figures[-1]
    tally.note("body limits: 400 MB bodies", "; ".join(figures))
    tally.count("400 MB bodies", len(figures))
    await _still_serving(served, sender, 2)


async def test_a_body_at_the_limit_is_accepted_and_one_byte_more_is_refused(
    served: Served, tally: Tally
) -> None:
    """The default limits (1 MiB for both webhooks) hold to the byte, in both framings."""
    sender = SlackSender(served.base_url + "/slack/events", SLACK_SECRET)
    telegram_limit = DEFAULTS.telegram_max_body_bytes
    slack_limit = DEFAULTS.slack_max_body_bytes
    update_ids = iter(range(100, 200))
    for framing in ("Content-Length", "chunked"):
        for size, expected in ((telegram_limit - 1, 200), (telegram_limit, 200),
                               (telegram_limit + 1, 413)):  # fmt: skip
            body = _telegram_update(next(update_ids), 41_000, "hi", size)
            headers = {SECRET_HEADER: TELEGRAM_SECRET, "Content-Type": "application/json"}
            status = await asyncio.to_thread(
                _post, served.base_url + WEBHOOK_PATH, body, headers, framing == "chunked"
            )
            assert status == expected, (framing, size - telegram_limit)
        for size, expected in ((slack_limit - 1, 200), (slack_limit, 200),
                               (slack_limit + 1, 413)):  # fmt: skip
            body = _slack_event(sender, "hi", size)
            headers = {
                "Content-Type": "application/json",
                **sign(SLACK_SECRET, body, int(time.time())),
            }
            status = await asyncio.to_thread(
                _post, served.base_url + "/slack/events", body, headers, framing == "chunked"
            )
            assert status == expected, (framing, size - slack_limit)
    tally.count("bodies at the limit, one byte under and over", 12)


def _huge_head(port: int) -> tuple[bytes, int]:
    """One header line of up to 400 MB, sent for at most 20 s: (the answer, bytes sent)."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(f"POST {WEBHOOK_PATH} HTTP/1.1\r\nHost: bot\r\nX-Filler: ".encode())
        sent, deadline = 0, time.monotonic() + 20
        with contextlib.suppress(OSError):  # the server closed the connection
            while sent < HUGE and time.monotonic() < deadline:
                sock.sendall(CHUNK)
                sent += len(CHUNK)
        with contextlib.suppress(OSError):
            return sock.recv(4096), sent
        return b"", sent


async def test_a_400_mb_header_is_refused_at_once_without_memory(
    served: Served, tally: Tally
) -> None:
    port = int(served.base_url.rsplit(":", 1)[1])
    served.reset_peak()
    before = served.status()["VmRSS"]
    started = time.monotonic()
    answer, sent = await asyncio.to_thread(_huge_head, port)
    seconds = time.monotonic() - started
    grown = (served.status()["VmHWM"] - before) / 1024
    status_line = answer.split(b"\r\n")[0].decode() or "no answer"
    figure = (
        f"{status_line} after {sent // 1024} KiB, in {seconds:.2f} s, peak RSS +{grown:.1f} MiB"
    )
    tally.note("body limits: a 400 MB header line", figure)
    assert answer.startswith(b"HTTP/1.1 431 "), figure
    assert sent < 10 * MiB, figure
    assert grown < 20, figure
    async with _client() as client:  # a large but sane head is still served
        filler = {"X-Filler": "x" * (MAX_HEAD // 2)}
        assert (await client.get(served.base_url + "/healthz", headers=filler)).status_code == 200
    await _still_serving(served, SlackSender(served.base_url + "/slack/events", SLACK_SECRET), 3)
