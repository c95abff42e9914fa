"""Scripted conversation tests that operators write next to their flows.

A test file (``flows/tests/*.yaml``) holds a list of cases::

    - name: self-serve customer tracks a shipped order
      persona: self_serve          # remembered persona; omit to be asked like a new customer
      customer: {first_name: Ann}
      turns:
        - say: where is my order   # or `tap: <button label>`, `start: <deep-link payload>`,
                                   # `photo: <caption>` / `file: <file name>` (sends one),
                                   # `burst: [hi, my order hasn't arrived, its ws10001]`
                                   # (sent at once: answered as one turn), or
                                   # `agent: close` / `agent: return` (an agent takes
                                   # the ticket, then closes it or hands it back)
          expect: order number     # text (or list) that must appear in the replies
          buttons: [Track it]      # optional: button labels that must be offered
          not: sorry               # optional: text that must NOT appear
      end: resolved                # optional: new | menu | in_flow | handoff | resolved ...
      flow: where_is_my_order      # optional: the flow the conversation ended in
      slots: {order_found: true}   # optional: slot values at the end
      rated: 5                     # optional: the satisfaction score that was stored

Matching is case-insensitive substring matching. Each case runs against a real
conversation manager with a throw-away SQLite database and the configured custom actions.
The demo seeder (:mod:`bot.scripted.demo`) plays the same cases with :func:`inbound_for`.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from bot.actions import ActionRunner
from bot.conversation.manager import ConversationManager, FixedCatalog
from bot.engine.catalog import Catalog
from bot.engine.state import ConversationState
from bot.handoff.service import Agent, HandoffService
from bot.messages import (
    Attachment,
    Button,
    ConversationKey,
    CustomerInfo,
    Inbound,
    InboundKind,
    Outbound,
)
from storage.sql import SqlStore, open_store

TextOrList = str | list[str]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class TurnSpec(_Strict):
    say: str | None = None
    tap: str | None = None
    start: str | None = Field(default=None, description="Open the chat (deep-link payload).")
    photo: str | None = Field(default=None, description="Send a photo with this caption.")
    file: str | None = Field(default=None, description="Send a document with this name.")
    burst: list[str] | None = Field(
        default=None,
        min_length=1,
        description="Messages sent at once, before the bot answers: taken as one turn.",
    )
    agent: Literal["close", "return"] | None = Field(
        default=None, description="An agent takes the ticket and closes it / returns it."
    )
    expect: TextOrList = Field(default_factory=list)
    buttons: list[str] = Field(default_factory=list)
    not_: TextOrList = Field(default_factory=list, alias="not")


class CaseSpec(_Strict):
    name: Annotated[str, Field(min_length=1)]
    persona: str | None = None
    customer: dict[str, str] = Field(default_factory=dict)
    turns: list[TurnSpec]
    end: str | None = None
    flow: str | None = None
    slots: dict[str, Any] = Field(default_factory=dict)
    rated: int | None = Field(default=None, ge=1, le=5, description="The score stored.")


@dataclass(slots=True)
class CaseResult:
    file: str
    name: str
    failures: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failures


def load_cases(path: Path) -> list[CaseSpec]:
    """Parse one test file; problems raise ValueError with ``path: message``."""
    try:
        data = YAML(typ="safe").load(path.read_text(encoding="utf-8"))
    except (OSError, YAMLError) as exc:
        raise ValueError(f"{path}: cannot read conversation tests: {exc}") from exc
    if not isinstance(data, list):
        raise ValueError(f"{path}: a conversation test file is a list of cases")
    cases = []
    for index, item in enumerate(data):
        try:
            cases.append(CaseSpec.model_validate(item))
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
            )
            raise ValueError(f"{path}: case {index + 1}: {problems}") from exc
    return cases


def _as_list(value: TextOrList) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


class ConversationTester:
    """Runs cases against one catalog; each case is a fresh customer."""

    def __init__(self, catalog: Catalog, store: SqlStore, actions: ActionRunner) -> None:
        self._catalog = catalog
        self._store = store
        self._manager = ConversationManager(store, FixedCatalog(catalog), actions)
        self._count = 0

    async def run_case(self, case: CaseSpec, file: str = "") -> CaseResult:
        self._count += 1
        result = CaseResult(file, case.name)
        user = f"test-{self._count}"
        key = ConversationKey("test", user)
        sender = CustomerInfo(user, first_name=case.customer.get("first_name"))
        if case.persona is not None:
            if case.persona not in self._catalog.personas:
                result.failures.append(f"unknown persona {case.persona!r}")
                return result
            async with self._store.turn(str(key), key.channel, user) as turn:
                turn.customer.persona = case.persona
        last: Sequence[Outbound] = []
        for number, spec in enumerate(case.turns, start=1):
            if spec.agent is not None:
                replies = await self._agent_turn(spec.agent, str(key))
                if isinstance(replies, str):
                    result.failures.append(f"turn {number}: {replies}")
                    return result
                last = replies
                result.failures.extend(f"turn {number}: {p}" for p in _check_turn(spec, last))
                continue
            inbounds = inbound_for(spec, key, sender, last)
            if isinstance(inbounds, str):
                result.failures.append(f"turn {number}: {inbounds}")
                return result
            last = await customer_sends(self._manager, inbounds)
            result.failures.extend(f"turn {number}: {p}" for p in _check_turn(spec, last))
        await self._check_end(case, str(key), result)
        return result

    async def _agent_turn(self, move: str, chat_key: str) -> list[Outbound] | str:
        """An agent takes the chat's ticket and closes or returns it; what the customer
        was sent (read back from the transcript, buttons included) are the replies."""
        tickets = [t for t in await self._store.tickets.open_tickets() if t.chat_key == chat_key]
        if not tickets:
            return "no open ticket for an agent to take"
        ticket = tickets[0]
        before = len(await self._store.transcript(ticket.conversation_id))
        desk = HandoffService(self._store, self._manager)
        agent = Agent("test:agent", "Agent")
        await desk.take(ticket.id, agent)
        if move == "close":
            await desk.close(ticket.id, agent)
        else:
            await desk.return_to_bot(ticket.id, agent)
        key = ConversationKey(*chat_key.split(":", 1))
        entries = list(await self._store.transcript(ticket.conversation_id))[before:]
        return [
            Outbound(key, e.text, tuple(Button(b["label"], b.get("payload"), b.get("url"))
                                        for b in e.data.get("buttons", [])))
            for e in entries
            if e.direction == "out"
        ]  # fmt: skip

    async def _check_end(self, case: CaseSpec, chat_key: str, result: CaseResult) -> None:
        if case.end is None and case.flow is None and not case.slots and case.rated is None:
            return
        customer_id = chat_key  # "test:<user>" is both chat key and customer id here
        conversations = await self._store.conversations_of(customer_id)
        if not conversations:
            result.failures.append("no conversation was recorded")
            return
        state = ConversationState.from_json(conversations[0].state)
        if case.end is not None and state.status.value != case.end:
            result.failures.append(f"ended as {state.status.value!r}, expected {case.end!r}")
        if case.flow is not None and state.flow_id != case.flow:
            result.failures.append(f"ended in flow {state.flow_id!r}, expected {case.flow!r}")
        if case.rated is not None:
            rating = await self._store.rating_of(conversations[0].id)
            score = rating[0] if rating else None
            if score != case.rated:
                result.failures.append(f"rating stored {score!r}, expected {case.rated!r}")
        for slot, expected in case.slots.items():
            actual = state.slots.get(slot)
            if actual != expected:
                result.failures.append(f"slot {slot} = {actual!r}, expected {expected!r}")


def inbound_for(
    spec: TurnSpec,
    key: ConversationKey,
    sender: CustomerInfo,
    last: Sequence[Outbound],
) -> list[Inbound] | str:
    """The customer's message(s) for a scripted turn, or why they cannot be sent."""
    if spec.tap is not None:
        offered = [b for reply in last for b in reply.buttons if b.payload]
        for button in offered:
            if button.label.casefold() == spec.tap.casefold():
                return [Inbound(key, sender, InboundKind.BUTTON, button.label, button.payload)]
        labels = ", ".join(b.label for b in offered) or "none"
        return f"no button {spec.tap!r} to tap (offered: {labels})"
    if spec.start is not None:
        return [Inbound(key, sender, InboundKind.START, payload=spec.start or None)]
    if spec.say is not None:
        return [Inbound(key, sender, InboundKind.TEXT, spec.say)]
    if spec.burst is not None:
        return [Inbound(key, sender, InboundKind.TEXT, text) for text in spec.burst]
    if spec.photo is not None or spec.file is not None:
        kind, name = ("photo", None) if spec.file is None else ("document", spec.file)
        mime = "image/jpeg" if spec.file is None else "application/octet-stream"
        sent = Attachment(kind, key.channel, f"{kind}-of-{key.chat_id}", name, mime, 48_000)
        return [Inbound(
            key, sender, InboundKind.NON_TEXT, spec.photo or "", non_text_kind=kind,
            attachments=(sent,),
        )]  # fmt: skip
    return "a turn needs `say`, `tap`, `start`, `photo`, `file`, `burst` or `agent`"


async def customer_sends(
    manager: ConversationManager, inbounds: Sequence[Inbound]
) -> list[Outbound]:
    """Hand the messages to the manager at once, in order — as a chat's backlog arrives,
    so several are answered as one turn — and return every reply."""
    replies = await asyncio.gather(*(manager.handle(inbound) for inbound in inbounds))
    return [reply for batch in replies for reply in batch]


def _check_turn(spec: TurnSpec, replies: Sequence[Outbound]) -> list[str]:
    text = "\n".join(r.text for r in replies).casefold()
    labels = [b.label.casefold() for r in replies for b in r.buttons]
    shown = " | ".join(r.text for r in replies) or "(no reply)"
    problems = []
    for expected in _as_list(spec.expect):
        if expected.casefold() not in text:
            problems.append(f"expected {expected!r} in the reply; the bot said: {shown}")
    for forbidden in _as_list(spec.not_):
        if forbidden.casefold() in text:
            problems.append(f"did not expect {forbidden!r}; the bot said: {shown}")
    for label in spec.buttons:
        if label.casefold() not in labels:
            offered = ", ".join(b.label for r in replies for b in r.buttons) or "none"
            problems.append(f"expected a button {label!r}; offered: {offered}")
    return problems


def discover(paths: Sequence[Path]) -> list[Path]:
    """Test files under the given files/directories (``*.yaml``/``*.yml``), sorted."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(sorted([*path.rglob("*.yaml"), *path.rglob("*.yml")]))
        elif path.exists():
            found.append(path)
    return found


async def run_files(
    catalog: Catalog, files: Sequence[Path], actions: ActionRunner
) -> list[CaseResult]:
    """Run every case of every file; a file that cannot be read is one failed result."""
    results: list[CaseResult] = []
    with tempfile.TemporaryDirectory(prefix="supportbot-flowtest-") as tmp:
        store = await open_store(f"sqlite+aiosqlite:///{Path(tmp) / 'flowtest.db'}")
        try:
            tester = ConversationTester(catalog, store, actions)
            for file in files:
                try:
                    cases = load_cases(file)
                except ValueError as exc:
                    results.append(CaseResult(str(file), "(file)", [str(exc)]))
                    continue
                for case in cases:
                    results.append(await tester.run_case(case, str(file)))
        finally:
            await store.close()
    return results
