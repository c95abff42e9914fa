"""rasa-sdk actions behind the bot's action seam: in-process and over a real action server.

Every behaviour is checked both ways — rasa-sdk's ``ActionExecutor`` in this process, and
``python -m rasa_sdk`` as a subprocess speaking the webhook protocol — because operators
may switch between them and must see the same thing.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from bot.actions import ActionCall
from bot.actions import rasa as rasa_actions
from bot.actions.rasa import ActionServer, InProcessActions, RasaActions, action_call
from storage.records import TranscriptEntry
from tests.rasa_server import action_server
from tests.standins import free_port

PACKAGE = "tests.rasa_fixture_actions"


@pytest.fixture(scope="module")
def server_url() -> Iterator[str]:
    with action_server(PACKAGE) as url:
        yield url


@pytest.fixture(params=["in-process", "server"])
async def actions(request: pytest.FixtureRequest) -> AsyncIterator[RasaActions]:
    if request.param == "in-process":
        yield InProcessActions(PACKAGE, timeout=1.0)
        return
    runner = ActionServer(request.getfixturevalue("server_url"), timeout=1.0)
    yield runner
    await runner.close()


def call(name: str, **changes: object) -> ActionCall:
    base = ActionCall(
        name=name,
        customer_id="telegram:42",
        conversation_id=7,
        flow_id="paint_shop",
        step_id="pick",
        slots={"colour": "red", "size": "L"},
        customer={"first_name": "Ann"},
        latest_text="which colours do you have?",
        history=(
            TranscriptEntry("in", "text", "hi", created_at=datetime(2026, 11, 2, tzinfo=UTC)),
            TranscriptEntry("out", "reply", "Hi Ann!"),
            TranscriptEntry("event", "flow_started", data={"flow": "paint_shop"}),
        ),
    )
    return replace(base, **changes)  # type: ignore[arg-type]


async def test_the_action_sees_the_conversation_as_a_rasa_tracker(actions: RasaActions) -> None:
    result = await actions.run(call("echo_tracker"))
    assert result.ok, result.error
    [reply] = result.replies
    assert "sender=telegram:42 intent=paint_shop text=which colours do you have?" in reply.text
    assert "colour=red loop=paint_shop" in reply.text
    assert "events=user,bot,active_loop,slot,slot,user" in reply.text
    assert "https://img.example/blue.png" in reply.text  # the image, as a link preview
    labels = [(b.label, b.payload, b.url) for b in reply.buttons]
    assert labels == [
        ("Yes please", "t:Yes please", None),  # a Rasa intent payload: tapping says the title
        ("Blue", "t:blue", None),
        ("Docs", None, "https://docs.example/colours"),
    ]
    assert result.slots == {"seen": True, "colour": "blue", "followup_action": "next_thing"}


async def test_reset_slots_applies_and_unsupported_events_are_ignored_once(
    actions: RasaActions, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(rasa_actions, "_warned", set())
    with caplog.at_level(logging.WARNING, logger="supportbot.actions"):
        first = await actions.run(call("reset_everything"))
        await actions.run(call("reset_everything"))
    assert first.ok and first.slots == {"colour": None, "size": None}
    warnings = [r for r in caplog.records if "'restart'" in r.getMessage()]
    assert len(warnings) == 1  # logged once, never a crash


@pytest.mark.parametrize(
    ("name", "error"),
    [
        ("slow_action", "timed out after 1s"),
        ("no_such_action", "no action 'no_such_action'"),
    ],
)
async def test_timeouts_and_unknown_actions_fail_cleanly_with_a_log_line(
    actions: RasaActions, name: str, error: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="supportbot.actions"):
        result = await actions.run(call(name))
    assert not result.ok and result.error is not None and error in result.error
    assert any(name in r.getMessage() and error in r.getMessage() for r in caplog.records)


async def test_an_exception_in_the_action_fails_cleanly(actions: RasaActions) -> None:
    result = await actions.run(call("broken_action"))
    assert not result.ok
    # in-process we see the exception; the server reports a 500
    assert result.error is not None
    assert "the back-end is down" in result.error or "HTTP 500" in result.error


async def test_names_lists_what_the_package_or_server_provides(actions: RasaActions) -> None:
    names = await actions.names()
    assert {"echo_tracker", "slow_action", "broken_action", "reset_everything"} <= names


def test_a_validation_call_ends_with_the_candidate_slot() -> None:
    payload = action_call(call("validate_order_form", validating=("order_number", "ws10001")))
    events = payload["tracker"]["events"]
    assert events[-1] == {"event": "slot", "name": "order_number", "value": "ws10001"}
    assert events[-2]["event"] == "user"  # so only the candidate is validated
    assert payload["domain"]["forms"] == {"order_form": {"required_slots": ["order_number"]}}


@pytest.fixture
def garbage_server() -> Iterator[str]:
    """An HTTP server that answers the webhook with things that are not Rasa responses."""
    import threading

    import uvicorn

    answers = iter([b"<html>oops</html>", b'{"events": "nope"}', b'{"events": ["x"]}'])

    async def webhook(_: Request) -> Response:
        return PlainTextResponse(next(answers, b"{}"), media_type="application/json")

    app = Starlette(routes=[Route("/webhook", webhook, methods=["POST"])])
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        pass
    yield f"http://127.0.0.1:{port}/webhook"
    server.should_exit = True
    thread.join(timeout=5)


async def test_bad_responses_from_a_server_fail_cleanly(garbage_server: str) -> None:
    runner = ActionServer(garbage_server, timeout=2.0)
    try:
        for _ in range(3):
            result = await runner.run(call("anything"))
            assert not result.ok and result.error is not None
            assert result.error.startswith("bad response")
    finally:
        await runner.close()


async def test_an_unreachable_server_fails_cleanly() -> None:
    runner = ActionServer(f"http://127.0.0.1:{free_port()}", timeout=1.0)
    try:
        result = await runner.run(call("echo_tracker"))
    finally:
        await runner.close()
    assert not result.ok and result.error is not None and "unreachable" in result.error
