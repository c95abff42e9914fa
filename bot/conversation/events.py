"""What a turn did, as transcript events: flow started, step entered, handoff, resolved…

Reports compute drop-off, handoffs and ratings from these entries, so they carry ids and
operator-written reasons only, never customer words beyond a rating comment.
"""

from __future__ import annotations

from typing import Any

from bot.engine.effects import (
    Effect,
    FlowStarted,
    HandoffCancelled,
    HandoffRequested,
    Misunderstood,
    PersonaChosen,
    RatingAsked,
    RatingComment,
    RatingGiven,
    Resolved,
    RunAction,
    StepEntered,
)
from storage.records import TranscriptEntry


def event_entry(effect: Effect) -> TranscriptEntry:
    """Record what happened, so reports can see which step lost the customer."""
    if isinstance(effect, FlowStarted):
        data: dict[str, Any] = {
            "flow": effect.flow_id,
            "version": effect.version,
            "variant": effect.variant,
        }
        return TranscriptEntry("event", "flow_started", data=data)
    if isinstance(effect, StepEntered):
        data = {"flow": effect.flow_id, "variant": effect.variant, "step": effect.step_id}
        return TranscriptEntry("event", "step", data=data)
    if isinstance(effect, PersonaChosen):
        return TranscriptEntry("event", "persona", data={"persona": effect.persona_id})
    if isinstance(effect, RunAction):
        data = {"action": effect.name, "flow": effect.flow_id, "step": effect.step_id}
        return TranscriptEntry("event", "action", data=data)
    if isinstance(effect, HandoffRequested):
        data = {
            "reason": effect.reason,
            "queue": effect.queue,
            "flow": effect.flow_id,
            "step": effect.step_id,
        }
        return TranscriptEntry("event", "handoff", data=data)
    if isinstance(effect, HandoffCancelled):
        return TranscriptEntry("event", "handoff_cancelled")
    if isinstance(effect, Resolved):
        return TranscriptEntry(
            "event", "resolved", data={"flow": effect.flow_id, "tag": effect.tag}
        )
    if isinstance(effect, RatingAsked):
        return TranscriptEntry("event", "rating_asked")
    if isinstance(effect, RatingGiven):
        return TranscriptEntry("event", "rating", data={"score": effect.score})
    if isinstance(effect, RatingComment):
        return TranscriptEntry("event", "rating_comment", effect.text)
    if isinstance(effect, Misunderstood):
        return TranscriptEntry("event", "misunderstood", data={"where": effect.where})
    raise TypeError(f"unexpected effect {effect!r}")  # pragma: no cover
