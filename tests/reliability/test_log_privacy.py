"""Nothing private in any log: the real ``supportbot run``, refused and served requests.

The bot runs as the operator runs it (a subprocess; logging set up by the CLI) with
Telegram in webhook mode and Slack over HTTP against the stand-ins. It gets requests a
server on the internet gets — wrong Telegram secrets, Slack requests with a bad
signature, a stale timestamp (a server whose clock is off), missing headers, bodies that
are no update — and ordinary customer traffic. Every text carries the marker
``quetzal``, the customers are called Zebedee. Afterwards the whole log (every library's
records included) must hold no customer text, no customer name, no token and no secret —
at the default level and at DEBUG (``SUPPORTBOT_LOG_LEVEL=DEBUG``, as ``--verbose``), with
either HTTP client for Telegram (httpx logs request URLs, which carry the bot token).
"""

from __future__ import annotations

import io
import json
import logging
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.channels.telegram_webhook import SECRET_HEADER, WEBHOOK_PATH
from bot.log_privacy import PrivacyFilter
from tests.reliability.bot_process import bot_env, start, terminate
from tests.reliability.harness import SLACK_SECRET, TELEGRAM_SECRET
from tests.standins import free_port
from tests.standins.slack_api import SlackApiStandIn, SlackSender, sign
from tests.standins.telegram_api import TelegramApiStandIn, text_update, user_json, wait_until

MARKER = "quetzal"
NAME = "Zebedee"
CUSTOMER = 771_234
SLACK_USER = "UZEB"
SLACK_DM = "DZEB"

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def said(n: int) -> str:
    return f"{MARKER} {n}: my card ends in 4242, where is my order WS-10001?"


async def refused_telegram(client: httpx.AsyncClient, url: str) -> dict[str, int]:
    """Webhook posts a server must refuse; the status each got."""
    body = json.dumps({"update_id": 9001, **text_update(user_json(CUSTOMER, NAME), said(1))})
    right = {SECRET_HEADER: TELEGRAM_SECRET, "Content-Type": "application/json"}
    cases = {
        "wrong secret": (body, {SECRET_HEADER: "guess", "Content-Type": "application/json"}),
        "no secret": (body, {"Content-Type": "application/json"}),
        "not JSON": (body[:-9], right),
        "not an update": (json.dumps({"update_id": "x", "message": said(2)}), right),
    }
    return {
        name: (await client.post(url, content=payload, headers=headers)).status_code
        for name, (payload, headers) in cases.items()
    }


async def refused_slack(client: httpx.AsyncClient, url: str, sender: SlackSender) -> dict[str, int]:
    """Slack requests a server must refuse: bad signatures, stale, unsigned, unparsable."""
    event = sender.dm_event(SLACK_USER, said(3), SLACK_DM)
    body = sender.event_body(event)
    now = int(time.time())
    form = urllib.parse.urlencode({"payload": json.dumps({"type": "block_actions",
                                                           "text": said(4)})}).encode()  # fmt: skip
    garbage = b'{"type": "event_callback", "event": {"text": "' + said(5).encode() + b'"'
    json_type = {"Content-Type": "application/json"}
    cases: dict[str, tuple[bytes, dict[str, str]]] = {
        "bad signature": (body, {**json_type, **sign("not-the-secret", body, now)}),
        "stale timestamp (clock skew)": (
            body,
            {**json_type, **sign(SLACK_SECRET, body, now - 600)},
        ),
        "no headers": (body, json_type),
        "timestamp, no signature": (body, {**json_type, "X-Slack-Request-Timestamp": str(now)}),
        "bad signature, interactivity": (
            form,
            {"Content-Type": "application/x-www-form-urlencoded", **sign("x", form, now)},
        ),
        "signed, not JSON": (garbage, {**json_type, **sign(SLACK_SECRET, garbage, now)}),
    }
    return {
        name: (await client.post(url, content=payload, headers=headers)).status_code
        for name, (payload, headers) in cases.items()
    }


@pytest.mark.parametrize(
    ("level", "client"),
    [("INFO", "aiohttp"), ("DEBUG", "aiohttp"), ("DEBUG", "httpx")],
    ids=["default-level", "debug", "debug-httpx"],
)
async def test_the_log_holds_no_message_text_no_name_and_no_token(
    tmp_path: Path, level: str, client: str
) -> None:
    slack = SlackApiStandIn()
    slack.add_user(SLACK_USER, first_name=NAME)
    await slack.start()
    log = tmp_path / "bot.log"
    try:
        async with TelegramApiStandIn() as telegram:
            port = free_port()
            env = bot_env(
                tmp_path, port, telegram=telegram, webhook=True, slack=slack,
                SUPPORTBOT_LOG_LEVEL=level, TELEGRAM_HTTP_CLIENT=client,
            )  # fmt: skip
            process = await start(env, log)
            try:
                base = f"http://127.0.0.1:{port}"
                sender = SlackSender(base + "/slack/events", SLACK_SECRET)
                async with httpx.AsyncClient(timeout=30) as http:
                    telegram_refused = await refused_telegram(http, base + WEBHOOK_PATH)
                    slack_refused = await refused_slack(http, base + "/slack/events", sender)
                    # Ordinary traffic: a customer on each platform, answered.
                    update: dict[str, Any] = {"update_id": 9002}
                    update.update(text_update(user_json(CUSTOMER, NAME), said(6)))
                    served = await http.post(
                        base + WEBHOOK_PATH, json=update, headers={SECRET_HEADER: TELEGRAM_SECRET}
                    )
                reply = await sender.event(sender.dm_event(SLACK_USER, said(7), SLACK_DM))
                await wait_until(lambda: telegram.messages_to(CUSTOMER), 30)
                await wait_until(lambda: [m for m in slack.posted if m["channel"] == SLACK_DM], 30)
            finally:
                await terminate(process)
    finally:
        await slack.stop()

    output = log.read_text(errors="replace")
    assert telegram_refused == {
        "wrong secret": 403, "no secret": 403, "not JSON": 400, "not an update": 400,
    }  # fmt: skip
    assert slack_refused == {
        "bad signature": 401, "stale timestamp (clock skew)": 401, "no headers": 401,
        "timestamp, no signature": 401, "bad signature, interactivity": 401,
        "signed, not JSON": 400,
    }  # fmt: skip
    assert served.status_code == 200 and reply.status == 200
    assert process.returncode == 0, output[-3000:]
    assert "serving telegram, slack" in output  # the log was captured at all
    leaks = {
        "customer text": MARKER,
        "customer name": NAME,
        "Telegram bot token": telegram.token.split(":", 1)[1],
        "Telegram webhook secret": TELEGRAM_SECRET,
        "Slack bot token": slack.token,
        "Slack signing secret": SLACK_SECRET,
    }
    lowered = output.lower()
    found = {what: value.lower() for what, value in leaks.items() if value.lower() in lowered}
    lines = [ln for ln in output.splitlines() if any(v in ln.lower() for v in found.values())]
    assert not found, f"{sorted(found)} in the log:\n" + "\n".join(lines[:20])
    assert "slack: refused a request with an invalid signature" in output  # still visible


# ---- the filter on its own: what reaches an operator's log from any logger ---------------


@pytest.fixture
def operator_log() -> Iterator[io.StringIO]:
    """A handler as ``setup_logging`` builds it (privacy filter on), the root at DEBUG."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    handler.addFilter(PrivacyFilter(["configured-secret-value"]))
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def test_tokens_secrets_and_passwords_are_masked_in_any_record_and_traceback(
    operator_log: io.StringIO,
) -> None:
    stream = operator_log
    token = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsawQ"
    library = logging.getLogger("some.library")
    library.warning("POST https://api.telegram.org/bot%s/sendMessage failed", token)
    library.warning("slack tokens xoxb-1234-5678-abcdef and xapp-1-A0-99-ffee")
    library.error("cannot connect to postgresql+psycopg://bot:hunter2@db:5432/supportbot")
    library.warning("the configured-secret-value leaked")
    try:
        raise RuntimeError(f"request to /bot{token}/getMe failed")
    except RuntimeError:
        logging.getLogger("supportbot.test").exception("failed")
    output = stream.getvalue()
    for secret in ("AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsawQ", "xoxb-1234", "xapp-1", "hunter2",
                   "configured-secret-value"):  # fmt: skip
        assert secret not in output, output
    assert "bot<telegram-token>/sendMessage" in output  # still says which call failed
    assert "postgresql+psycopg://bot:***@db:5432/supportbot" in output
    assert "Traceback" in output and "RuntimeError" in output  # the traceback stays


def test_library_bodies_and_chatty_levels_never_reach_the_log(
    operator_log: io.StringIO,
) -> None:
    stream = operator_log
    logging.getLogger("slack_sdk.web.async_base_client").debug("json: {'text': 'quetzal'}")
    logging.getLogger("telegram.Bot").debug("Calling sendMessage with `{'text': 'quetzal'}`")
    logging.getLogger("aiosqlite").debug("executing INSERT ... ('quetzal',)")
    logging.getLogger("httpx").info("HTTP Request: POST https://api.telegram.org/bot1/x")
    logging.getLogger("slack_bolt.AsyncApp").warning("Unhandled, body: {'text': 'quetzal'}")
    logging.getLogger("supportbot.test").debug("our own debug line")
    output = stream.getvalue()
    assert "quetzal" not in output and "HTTP Request" not in output, output
    assert "body: (not logged)" in output
    assert "our own debug line" in output


@pytest.mark.parametrize(
    ("offset", "expected"),
    [
        (0, "not signed with SLACK_SIGNING_SECRET"),
        (-600, "its timestamp is 600 s behind our clock"),
        (900, "its timestamp is 900 s ahead of our clock"),
    ],
)
def test_a_refused_slack_signature_is_one_line_that_points_at_the_clock(
    operator_log: io.StringIO, offset: int, expected: str
) -> None:
    stream = operator_log
    stamp = int(time.time()) + offset
    logging.getLogger("slack_bolt.RequestVerification").warning(
        "Invalid request signature detected (signature: v0=ab, timestamp: %d, body: %s)",
        stamp,
        json.dumps({"event": {"text": said(9)}}),
    )
    output = stream.getvalue()
    assert MARKER not in output and "v0=ab" not in output
    assert output.startswith("WARNING slack_bolt.RequestVerification: slack: refused a request")
    assert expected in output
