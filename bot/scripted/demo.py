"""``supportbot demo seed``: a database that looks like two weeks of a web shop's support.

Nothing is invented at the table level: each demo customer plays one of the operator's
own conversation tests (``flows/tests/*.yaml``) through the real conversation manager on
a random channel; a person takes and closes the tickets through the real handoff service;
customers rate as customers do (better for some flows than others), some comment, some
unhappy ones ask for a follow-up, some walk away mid-flow. Then each conversation is
moved back in time (spread over ``days``) so reports show trends and queue waits.
The cases and their customers' messages come from :mod:`bot.scripted.flowtest`.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import timedelta

from bot.actions import ActionRunner
from bot.conversation.abandonment import end_abandoned
from bot.conversation.manager import ConversationManager, FixedCatalog
from bot.engine.catalog import Catalog
from bot.engine.state import ConversationState, Status
from bot.handoff.service import Agent, HandoffService
from bot.messages import ConversationKey, CustomerInfo, Inbound, InboundKind, Outbound
from bot.reports import Figures, build_report
from bot.scripted.flowtest import CaseSpec, customer_sends, inbound_for
from storage.backdating import conversation_ids, shift_conversation
from storage.records import utcnow
from storage.reporting import load_report_facts
from storage.sql import SqlStore

CHANNELS = ("telegram", "telegram", "slack", "console")
NAMES = ("Ann", "Ben", "Chloé", "Dev", "Emre", "Fatima", "Gus", "Hana", "Ivan", "Jo")
AGENTS = (
    Agent("slack:U0ALICE", "alice"),
    Agent("telegram:4242", "bob"),
    Agent("console:carol", "carol"),
)
SCORE_WEIGHTS: dict[str, tuple[int, ...]] = {  # scores 1..5
    "where_is_my_order": (1, 1, 2, 6, 10),
    "reset_password": (1, 2, 3, 6, 6),
    "return_refund": (2, 2, 4, 6, 5),
    "charged_twice": (5, 4, 3, 4, 3),
    "delivery_problem": (3, 4, 4, 5, 3),
}
DEFAULT_WEIGHTS = (1, 1, 3, 6, 6)
COMMENTS = {
    "low": ("The link had expired", "Took far too long", "I had to explain it twice",
            "Still no refund", "The bot didn't get what I meant"),
    "high": ("Super quick, thanks!", "Clear steps", "Lovely agent", "Exactly what I needed"),
}  # fmt: skip


class _Seeder:
    def __init__(
        self, store: SqlStore, catalog: Catalog, actions: ActionRunner, rng: random.Random
    ) -> None:
        self.store = store
        self.manager = ConversationManager(store, FixedCatalog(catalog), actions)
        self.desk = HandoffService(store, self.manager)
        self.rng = rng

    async def play(self, number: int, case: CaseSpec) -> None:
        rng = self.rng
        channel = rng.choice(CHANNELS)
        user = f"demo{number}"
        key = ConversationKey(channel, user)
        sender = CustomerInfo(user, first_name=rng.choice(NAMES))
        if case.persona is not None:
            async with self.store.turn(str(key), channel, user) as turn:
                turn.customer.persona = case.persona
        last: Sequence[Outbound] = []
        for spec in case.turns:
            if spec.agent is not None:
                continue  # the demo's agents step in below, whatever the script says
            inbounds = inbound_for(spec, key, sender, last)
            if isinstance(inbounds, str):
                break
            last = await customer_sends(self.manager, inbounds)
            if any(b.payload and b.payload.startswith("r:") for r in last for b in r.buttons):
                break  # asked for the rating: this customer answers in their own way
        for _ in range(2):  # a person may be asked for again after a low score
            status = await self._status(key)
            if status is Status.HANDOFF:
                await self._agent_closes(str(key))
                status = await self._status(key)
            if status is not Status.RATING:
                return
            await self._rate(key, sender, case)

    async def _status(self, key: ConversationKey) -> Status:
        conversation = (await self.store.conversations_of(f"{key.channel}:{key.chat_id}"))[0]
        return ConversationState.from_json(conversation.state).status

    async def _agent_closes(self, chat_key: str) -> None:
        ticket = next(t for t in await self.store.tickets.open_tickets() if t.chat_key == chat_key)
        agent = self.rng.choice(AGENTS)
        await self.desk.take(ticket.id, agent)
        await self.desk.reply(ticket.id, agent, "Hi, I'm looking into this for you now.")
        await self.desk.close(ticket.id, agent, self.rng.choice(("solved", "refunded", "info")))

    async def _rate(self, key: ConversationKey, sender: CustomerInfo, case: CaseSpec) -> None:
        rng = self.rng
        if rng.random() < 0.15:
            return  # never answers the rating question
        weights = SCORE_WEIGHTS.get(case.flow or "", DEFAULT_WEIGHTS)
        score = rng.choices(range(1, 6), weights)[0]
        await self._send(key, sender, InboundKind.BUTTON, payload=f"r:{score}")
        low = score <= 2
        if low and rng.random() < 0.35:
            await self._send(key, sender, InboundKind.BUTTON, payload="g:person")
        elif rng.random() < (0.7 if low else 0.3):
            comment = rng.choice(COMMENTS["low" if low else "high"])
            await self._send(key, sender, InboundKind.TEXT, text=comment)
        else:
            await self._send(key, sender, InboundKind.BUTTON, payload="r:skip")

    async def _send(
        self,
        key: ConversationKey,
        sender: CustomerInfo,
        kind: InboundKind,
        text: str = "",
        payload: str | None = None,
    ) -> None:
        await self.manager.handle(Inbound(key, sender, kind, text, payload))


async def seed_demo(
    store: SqlStore,
    catalog: Catalog,
    cases: Sequence[CaseSpec],
    actions: ActionRunner,
    *,
    conversations: int = 150,
    days: int = 14,
    seed: int = 7,
) -> Figures:
    """Play ``conversations`` demo customers, spread them over the last ``days``; returns
    the headline figures of what was seeded."""
    rng = random.Random(seed)
    seeder = _Seeder(store, catalog, actions, rng)
    for number in range(conversations):
        await seeder.play(number, rng.choice(cases))
    await end_abandoned(store, timedelta(minutes=1), now=utcnow() + timedelta(hours=1))
    for conversation_id in await conversation_ids(store):
        back = timedelta(days=rng.uniform(0, days), minutes=rng.uniform(0, 600))
        wait = timedelta(minutes=rng.lognormvariate(1.5, 0.8))  # mostly 2-10 min, a long tail
        handling = timedelta(minutes=rng.uniform(3, 25))
        await shift_conversation(store, conversation_id, back, (wait, handling))
    return build_report(await load_report_facts(store)).summary
