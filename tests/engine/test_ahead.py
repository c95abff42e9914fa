"""Information given ahead: a later question's answer is taken before it is asked."""

from __future__ import annotations

from bot.engine.catalog import Catalog
from bot.engine.dialogue import Context, step
from bot.engine.effects import Reply, StepEntered, TextEvent
from bot.engine.schema import Flow
from bot.engine.state import ConversationState

CALLBACK = Flow.model_validate(
    {
        "id": "callback",
        "title": "Call me back",
        "triggers": ["call me back", "phone me", "ring me please"],
        "variants": {
            "default": {
                "start": "amount",
                "steps": {
                    "amount": {
                        "ask": "How much was it?",
                        "slot": "amount",
                        "validate": {"type": "number", "min": 1},
                        "next": "email",
                    },
                    "email": {
                        "ask": "Your email?",
                        "slot": "email",
                        "validate": {"type": "email"},
                        "next": "done",
                    },
                    "done": {"resolve": "We'll mail {{ email }} about {{ amount }} €."},
                },
            }
        },
    }
)
CATALOG = Catalog({"callback": CALLBACK}, {"callback": "v1"}, {})


def say(state: ConversationState, text: str) -> tuple[ConversationState, list[str], list[str]]:
    new, effects = step(Context(CATALOG, {}, None, rating_enabled=False), state, TextEvent(text))
    replies = [e.text for e in effects if isinstance(e, Reply)]
    entered = [e.step_id for e in effects if isinstance(e, StepEntered)]
    return new, replies, entered


def test_an_email_in_the_opening_message_skips_its_question() -> None:
    state, replies, _ = say(ConversationState(), "call me back, ann@example.com")
    assert state.slots == {"email": "ann@example.com"}
    state, replies, entered = say(state, "42")
    assert entered == ["email", "done"]
    assert "Your email?" not in replies
    assert "We'll mail ann@example.com about 42 €." in replies


def test_a_later_answer_given_to_another_question_is_noted_and_the_question_asked_again() -> None:
    state, _, _ = say(ConversationState(), "call me back")
    state, replies, _ = say(state, "my email is bob@example.com")
    assert replies == ["Got it — bob@example.com.", "How much was it?"]
    assert state.misunderstandings == 0  # not a misunderstanding: the customer was ahead
    state, replies, _ = say(state, "about 30")
    assert "Your email?" not in replies
    assert "We'll mail bob@example.com about 30 €." in replies


def test_a_value_already_given_is_not_taken_again() -> None:
    state, _, _ = say(ConversationState(), "call me back, ann@example.com")
    state, replies, _ = say(state, "it was bob@example.com's card, 12")
    assert state.slots["email"] == "ann@example.com"
    assert "We'll mail ann@example.com about 12 €." in replies
