"""The seam for custom actions: flow steps ``action: NAME`` call code by name.

The engine emits :class:`~bot.engine.effects.RunAction`; the manager hands an
:class:`ActionCall` to an :class:`ActionRunner` and feeds the result back to the engine.
:class:`LocalActionRunner` calls plain async functions (tests use it to make actions slow
or fail on purpose); :mod:`bot.actions.rasa` runs rasa-sdk actions in-process or over
Rasa's action-server protocol behind the same protocol.

A module of its own so that everything that only passes calls along (the manager,
tests, benchmarks) depends on these few types, not on rasa-sdk.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from bot.engine.effects import ActionResultEvent
from storage.records import TranscriptEntry

log = logging.getLogger("supportbot.actions")


@dataclass(frozen=True, slots=True)
class ActionCall:
    """Everything an action may know about the conversation that called it."""

    name: str
    customer_id: str
    conversation_id: int
    flow_id: str
    step_id: str
    slots: Mapping[str, Any]
    customer: Mapping[str, Any]
    validating: tuple[str, Any] | None = None
    """(slot, candidate) when a validation action checks an answer to an ``ask`` step."""
    latest_text: str = ""
    """What the customer last said (the message that led here)."""
    history: Sequence[TranscriptEntry] = ()
    """The conversation's recent transcript, oldest first (for the action's tracker)."""


class ActionRunner(Protocol):
    async def run(self, call: ActionCall) -> ActionResultEvent: ...


ActionFunction = Callable[[ActionCall], Awaitable[ActionResultEvent]]


class LocalActionRunner:
    """Runs actions registered as async functions, with a time limit.

    An unknown action, an exception or a time-out becomes a failed result (the flow's
    ``on_error`` path), never a crash of the conversation.
    """

    def __init__(self, actions: Mapping[str, ActionFunction], timeout: float = 10.0) -> None:
        self._actions = dict(actions)
        self._timeout = timeout

    @property
    def names(self) -> frozenset[str]:
        return frozenset(self._actions)

    async def run(self, call: ActionCall) -> ActionResultEvent:
        function = self._actions.get(call.name)
        if function is None:
            log.error("unknown custom action %r (flow %s, step %s)", call.name, call.flow_id,
                      call.step_id)  # fmt: skip
            return ActionResultEvent(ok=False, error=f"unknown action {call.name!r}")
        try:
            async with asyncio.timeout(self._timeout):
                return await function(call)
        except TimeoutError:
            log.warning("action %r timed out after %.1fs", call.name, self._timeout)
            return ActionResultEvent(ok=False, error="timeout")
        except Exception:
            log.exception("action %r failed", call.name)
            return ActionResultEvent(ok=False, error="exception")
