"""What the bot does with an opening message: start a flow, ask "Did you mean", or neither.

The router's probabilities become one of three explainable decisions. A flow starts
when its probability is high, clearly ahead of the next flow, and the message is near
one of its examples; two or three plausible flows are offered as buttons; below that,
nothing is guessed: small talk gets the greeting or "you're welcome", anything else the
menu and the offer of a person. The thresholds are settings (SUPPORTBOT_ROUTING_*),
tuned on ``flows/eval/dev.jsonl`` and reported on ``test.jsonl``.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.engine.catalog import Catalog
from bot.engine.understanding import small_talk
from bot.engine.understanding.router import FlowScore

MAX_CANDIDATES = 3


@dataclass(frozen=True, slots=True)
class RoutingThresholds:
    """When the bot is sure enough to act; see the README's "How routing decides"."""

    confident: float = 0.5
    """Start the top flow at this probability or more …"""
    gap: float = 0.2
    """… when it leads the next flow by at least this much …"""
    similarity: float = 0.3
    """… and the message is at least this similar to one of the flow's examples."""
    possible: float = 0.2
    """Offer flows at this probability or more in "Did you mean …?"."""


DEFAULT_THRESHOLDS = RoutingThresholds()


@dataclass(frozen=True, slots=True)
class Understanding:
    """How sure we are which flow a message asks for."""

    flow_id: str | None
    """The one flow to start, when sure."""
    candidates: tuple[str, ...]
    """Flows to offer in "Did you mean …?", when unsure."""
    small_talk: str | None = None
    """``_greeting``/``_thanks``/``_other`` when the message is no request at all."""


def understand(
    text: str, catalog: Catalog, thresholds: RoutingThresholds = DEFAULT_THRESHOLDS
) -> Understanding:
    ranking = catalog.router().rank(text) if catalog.flows else []
    return decide(ranking, catalog, thresholds)


def decide(
    ranking: list[FlowScore], catalog: Catalog, thresholds: RoutingThresholds
) -> Understanding:
    """The decision for a ranking (most probable first), by the thresholds."""
    flows = [s for s in ranking if s.flow_id in catalog.flows]
    chatter = next(
        (
            s.flow_id
            for s in ranking[:1]
            if small_talk.is_small_talk(s.flow_id) and s.similarity >= thresholds.similarity
        ),
        None,
    )  # small talk, when the message is near one of its examples too ("99" is no thanks)
    if not flows:
        return Understanding(None, (), chatter)
    best = flows[0]
    runner_up = flows[1].probability if len(flows) > 1 else 0.0
    if (
        best.probability >= thresholds.confident
        and best.probability - runner_up >= thresholds.gap
        and best.similarity >= thresholds.similarity
    ):
        return Understanding(best.flow_id, ())
    plausible = tuple(
        s.flow_id for s in flows[:MAX_CANDIDATES] if s.probability >= thresholds.possible
    )
    if plausible:
        return Understanding(None, plausible)
    return Understanding(None, (), chatter)
