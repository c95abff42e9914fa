"""rasa-sdk actions that exercise every path of the bridge (tests only).

Run in-process (``ActionExecutor().register_package``) and by a real action server
(``python -m rasa_sdk --actions tests.rasa_fixture_actions``) in the same tests.
"""

from __future__ import annotations

import asyncio
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import AllSlotsReset, FollowupAction, Restarted, SlotSet
from rasa_sdk.executor import CollectingDispatcher


class EchoTracker(Action):
    """Says what it saw in the tracker, with buttons and an image, and sets slots."""

    def name(self) -> str:
        return "echo_tracker"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        kinds = ",".join(e["event"] for e in tracker.events)
        dispatcher.utter_message(
            text=f"sender={tracker.sender_id} intent={tracker.get_intent_of_latest_message()} "
            f"text={tracker.latest_message.get('text')} colour={tracker.get_slot('colour')} "
            f"loop={tracker.active_loop.get('name')} events={kinds}",
            buttons=[
                {"title": "Yes please", "payload": "/affirm"},
                {"title": "Blue", "payload": "blue"},
                {"title": "Docs", "url": "https://docs.example/colours"},
            ],
            image="https://img.example/blue.png",
        )
        return [SlotSet("seen", True), SlotSet("colour", "blue"), FollowupAction("next_thing")]


class ResetEverything(Action):
    def name(self) -> str:
        return "reset_everything"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        return [AllSlotsReset(), Restarted()]  # Restarted is not supported: ignored


class SlowAction(Action):
    def name(self) -> str:
        return "slow_action"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        await asyncio.sleep(30)
        return []


class BrokenAction(Action):
    def name(self) -> str:
        return "broken_action"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        raise RuntimeError("the back-end is down")
