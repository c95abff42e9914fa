"""The Slack agent desk: one card per ticket in ``SLACK_AGENT_CHANNEL``, work in its thread.

Out (called by :class:`bot.handoff.desk_feed.DeskFeed`): a new ticket becomes a Block Kit
card (customer, channel, persona, queue, where it escalated, reason, slots, the last
messages) with Take / Close / Return to bot buttons; the card is redrawn when the ticket
changes ("Taken by @alice", "Closed by @alice after 12 min"); what the customer writes is
posted into the card's thread ("Customer: …"), and the files they send are uploaded there
(``files.getUploadURLExternal`` + upload + ``files.completeUploadExternal``, their caption
as the comment; a file that cannot be passed on shows as a note with the reason).

In (routed here by :class:`bot.channels.slack_events.SlackListeners`, same Bolt app): a button
press → take / close / return to bot; a reply in a card's thread → sent to the customer
(owner only), files included, or, starting with ``//``, an internal note. Only the
agents' channel counts; everything else is ignored. Refusals (someone else has the
ticket…) are ephemeral messages to the agent who tried. Cards are only ever redrawn by
the feed, from the store.

Previous tickets of the customer are not shown on the card (not cheap to look up yet).
"""

from __future__ import annotations

import logging
import re
from collections import OrderedDict
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.channels.files import FileSources, FileUnavailable, too_large_note, unavailable_note
from bot.channels.slack import SlackChannel
from bot.channels.slack_blocks import SECTION_LIMIT, escape
from bot.channels.slack_events import DESK_ACTION_PREFIX, attachments_of
from bot.channels.slack_sending import NETWORK_ERRORS, upload
from bot.handoff.service import Agent, HandoffService, TicketConflict, TicketView, parse_command
from bot.messages import Attachment, attachments_in, shown
from bot.settings import Settings
from storage.records import TicketRecord, TranscriptEntry, utcnow
from storage.sql import SqlStore

_MENTION = re.compile(r"<@([A-Z0-9]+)(?:\|[^>]*)?>")
log = logging.getLogger("supportbot.slack_desk")

DESK_NAME = "slack"
NOTE_PREFIX = "//"
CARD_MESSAGES = 5
LINE_LIMIT = 300
SLOT_LIMIT = 200
RELAY_LIMIT = 3000
NAME_CACHE_SIZE = 1000
TAKE, CLOSE, RETURN = "take", "close", "return"
LABELS = {TAKE: "Take", CLOSE: "Close", RETURN: "Return to bot"}
BUTTONS = {"queued": (TAKE, CLOSE), "assigned": (CLOSE, RETURN)}
ACCEPTED_SUBTYPES = frozenset({None, "file_share", "thread_broadcast"})

Json = dict[str, Any]
Block = dict[str, Any]


class SlackDesk:
    """Implements the :class:`~bot.handoff.desk_feed.Desk` protocol on Slack."""

    name = DESK_NAME

    def __init__(
        self,
        client: AsyncWebClient,
        agent_channel: str,
        service: HandoffService,
        store: SqlStore,
        files: FileSources | None = None,
    ) -> None:
        self._client = client
        self._files = files or FileSources()
        self._channel = agent_channel
        self._service = service
        self._store = store
        self._names: OrderedDict[str, str] = OrderedDict()

    # -- the Desk protocol (called by the feed) ---------------------------------------------

    async def post_card(self, view: TicketView) -> dict[str, Any]:
        """Post the ticket's card to the agents' channel; the ref is its channel and ts."""
        response = await self._client.chat_postMessage(
            channel=self._channel, text=_fallback(view), blocks=card_blocks(view)
        )
        return {"channel": str(response.get("channel") or self._channel), "ts": response["ts"]}

    async def update_card(self, view: TicketView, ref: dict[str, Any]) -> None:
        """Redraw the card: status, owner, the buttons that still apply."""
        await self._client.chat_update(
            channel=str(ref["channel"]),
            ts=str(ref["ts"]),
            text=_fallback(view),
            blocks=card_blocks(view),
        )

    async def relay(self, view: TicketView, ref: dict[str, Any], entry: TranscriptEntry) -> None:
        """Post one customer message into the card's thread; its files are uploaded with
        the text as their comment (fetch or upload failures raise: the feed retries)."""
        files = attachments_in(entry.data)
        said = entry.text or ("" if files else f"({entry.data.get('non_text_kind') or entry.kind})")
        text = f"Customer: {escape(_clip(said, RELAY_LIMIT))}" if said else "Customer sent:"
        fetched: list[tuple[Attachment, bytes]] = []
        for file in files:
            try:
                fetched.append((file, await self._files.fetch(file)))
            except FileUnavailable as exc:
                text += "\n" + escape(unavailable_note(file, str(exc)))
        channel, thread = str(ref["channel"]), str(ref["ts"])
        if fetched:
            await upload(self._client, channel, thread, fetched, text)
        else:
            await self._client.chat_postMessage(channel=channel, thread_ts=thread, text=text)

    # -- agents (routed here by SlackChannel) ----------------------------------------------

    async def on_action(self, body: Json, action: Json) -> None:
        """A Take / Close / Return press on a card."""
        container: Json = body.get("container") or {}
        channel = str(container.get("channel_id") or (body.get("channel") or {}).get("id") or "")
        user: Json = body.get("user") or {}
        user_id = str(user.get("id") or "")
        if channel != self._channel or not user_id:
            log.info("slack desk: ignored a desk button outside the agents' channel")
            return
        verb = str(action.get("action_id", "")).removeprefix(DESK_ACTION_PREFIX)
        value = str(action.get("value") or "")
        if verb not in LABELS or not value.isdigit():
            log.warning("slack desk: unknown desk action %r", action.get("action_id"))
            return
        name = str(user.get("username") or user.get("name") or "")
        agent = await self._agent(user_id, name or None)
        ticket_id = int(value)
        thread = str(container.get("message_ts") or "") or None
        try:
            if verb == TAKE:
                await self._service.take(ticket_id, agent)
            elif verb == CLOSE:
                await self._service.close(ticket_id, agent)
            else:
                await self._service.return_to_bot(ticket_id, agent)
        except TicketConflict as exc:
            await self._tell(user_id, _refusal(exc), thread)

    async def on_message(self, event: Json) -> None:
        """A message in the agents' channel: a reply or ``//`` note in a card's thread."""
        user = event.get("user")
        thread = event.get("thread_ts")
        if event.get("bot_id") or event.get("subtype") not in ACCEPTED_SUBTYPES or not user:
            return
        if event.get("channel") != self._channel:
            log.info("slack desk: ignored a message outside the agents' channel")
            return
        if not thread or thread == event.get("ts"):
            log.debug("slack desk: ignored a message outside any card thread")
            return
        ticket = await self._ticket_of(str(thread))
        if ticket is None:
            log.debug("slack desk: ignored a thread reply that is not under an open card")
            return
        text = str(event.get("text") or "").strip()
        files = attachments_of(event.get("files"))
        if not text and not files:
            await self._tell(str(user), "Only text and files reach the customer.", str(thread))
            return
        agent = await self._agent(str(user))
        message_id = f"slack:{event.get('channel')}:{event.get('ts')}"  # redelivered = same
        try:
            command = parse_command(text)
            if command is not None:
                to = await self._mentioned_agent(command.argument)
                told = await self._service.command(ticket.id, agent, command, to)
                await self._tell(str(user), told, str(thread))
            elif text.startswith(NOTE_PREFIX):
                note = text[len(NOTE_PREFIX) :].strip()
                await self._service.note(ticket.id, agent, note, message_id)
            else:
                await self._reply(ticket.id, agent, text, files, message_id, str(thread))
        except TicketConflict as exc:
            await self._tell(str(user), _refusal(exc), str(thread))

    async def _reply(
        self,
        ticket_id: int,
        agent: Agent,
        text: str,
        files: tuple[Attachment, ...],
        message_id: str,
        thread: str,
    ) -> None:
        """The agent's words and files to the customer; a file too large to pass on is
        left out, and the agent is told so (only they see it)."""
        fits = tuple(f for f in files if not f.too_large)
        if text or fits:
            await self._service.reply(ticket_id, agent, text, message_id, fits)
        for file in files:
            if file.too_large:
                await self._tell(agent.id.removeprefix("slack:"), too_large_note(file), thread)

    async def _ticket_of(self, card_ts: str) -> TicketRecord | None:
        """The open ticket whose card is the thread root ``card_ts`` (open tickets only)."""
        for ticket in await self._store.tickets.open_tickets():
            ref = ticket.desk_refs.get(DESK_NAME) or {}
            if ref.get("ts") == card_ts and ref.get("channel") == self._channel:
                return ticket
        return None

    async def _mentioned_agent(self, argument: str | None) -> Agent | None:
        """``<@U123>`` (how Slack sends a mention) → that colleague as an Agent."""
        match = _MENTION.fullmatch((argument or "").strip())
        return await self._agent(match.group(1)) if match else None

    async def _agent(self, user_id: str, name: str | None = None) -> Agent:
        """``Agent("slack:U…", "@name")``; the name from the action or ``users.info``."""
        if name:
            self._remember(user_id, name)
        elif user_id in self._names:
            self._names.move_to_end(user_id)
            name = self._names[user_id]
        else:
            name = await self._user_name(user_id)
            self._remember(user_id, name)
        return Agent(f"slack:{user_id}", f"@{name}")

    async def _user_name(self, user_id: str) -> str:
        try:
            response = await self._client.users_info(user=user_id)
        except (SlackApiError, *NETWORK_ERRORS) as exc:
            log.debug("slack desk: users.info failed: %s", type(exc).__name__)
            return user_id
        info: Json = response.get("user") or {}
        profile: Json = info.get("profile") or {}
        return str(info.get("name") or profile.get("display_name") or user_id)

    def _remember(self, user_id: str, name: str) -> None:
        self._names[user_id] = name
        self._names.move_to_end(user_id)
        while len(self._names) > NAME_CACHE_SIZE:
            self._names.popitem(last=False)

    async def _tell(self, user_id: str, text: str, thread: str | None) -> None:
        """An ephemeral message to one agent (only they see it)."""
        args: Json = {"channel": self._channel, "user": user_id, "text": escape(text)}
        if thread:
            args["thread_ts"] = thread
        try:
            await self._client.chat_postEphemeral(**args)
        except (SlackApiError, *NETWORK_ERRORS) as exc:
            log.warning("slack desk: could not tell %s: %s", user_id, exc)


def build_slack_desk(
    settings: Settings, store: SqlStore, service: HandoffService, channel: SlackChannel
) -> SlackDesk | None:
    """The desk on the Slack channel's client and Bolt app; ``None`` without a channel id."""
    if not settings.slack_agent_channel:
        return None
    desk = SlackDesk(channel.client, settings.slack_agent_channel, service, store, channel.files)
    channel.attach_desk(desk)
    return desk


# -- the card (pure) ------------------------------------------------------------------------


def card_blocks(view: TicketView) -> list[Block]:
    """The ticket's card: who, where from, why, slots, last messages, status, buttons."""
    t = view.ticket
    where = t.chat_key.partition(":")[0]
    blocks: list[Block] = [
        _section(f"*#{t.id} · {escape(_clip(view.customer_name, 100))}* ({escape(where)})"),
        {
            "type": "section",
            "fields": [
                _mrkdwn(f"*Queue*\n{escape(t.queue)}"),
                _mrkdwn(f"*Persona*\n{escape(view.persona or '-')}"),
                _mrkdwn(f"*Escalated at*\n{escape(t.flow_id or '-')} / {escape(t.step_id or '-')}"),
                _mrkdwn(f"*Reason*\n{escape(_clip(t.reason or '-', 200))}"),
            ],
        },
    ]
    slots = [
        f"• {escape(str(k))}: {escape(_clip(shown(v), SLOT_LIMIT))}" for k, v in view.slots.items()
    ]
    if slots:
        blocks.append(_section(_within("*Slots*", slots)))
    lines = [_line(e) for e in view.last_messages[-CARD_MESSAGES:]]
    if lines:
        blocks.append(_section(_within("*Last messages*", lines)))
    blocks.append({"type": "context", "elements": [_mrkdwn(status_line(t))]})
    verbs = BUTTONS.get(t.status, ())
    if verbs:
        blocks.append(
            {
                "type": "actions",
                "block_id": f"supportdesk_{t.id}",
                "elements": [_button(verb, t.id) for verb in verbs],
            }
        )
    return blocks


def status_line(t: TicketRecord) -> str:
    """``Waiting since 12:03 UTC`` / ``Taken by @alice`` / ``Closed by @alice after 12 min``."""
    owner = escape(t.owner_name or t.owner_id or "")
    if t.status == "queued":
        return f"Waiting since {t.created_at:%H:%M} UTC"
    if t.status == "assigned":
        return f"Taken by {owner}"
    minutes = int(((t.closed_at or utcnow()) - t.created_at).total_seconds() // 60)
    done = "Returned to the bot" if t.resolution == "returned_to_bot" else "Closed"
    by = f" by {owner}" if owner else ""
    why = f" ({escape(t.resolution)})" if t.resolution and not owner else ""
    return f"{done}{by} after {minutes} min{why}"


def _line(entry: TranscriptEntry) -> str:
    who = "Customer" if entry.direction == "in" else "Agent" if entry.kind == "agent" else "Bot"
    files = " ".join(f"[{file.label()}]" for file in attachments_in(entry.data))
    said = " ".join(p for p in (files, entry.text) if p)
    said = said or f"({entry.data.get('non_text_kind') or entry.kind})"
    return f"> *{who}:* {escape(_clip(' '.join(said.split()), LINE_LIMIT))}"


def _within(title: str, lines: list[str], limit: int = SECTION_LIMIT) -> str:
    """``title`` and as many whole (escaped) lines as fit a section; never cuts an entity."""
    text = title
    for line in lines:
        if len(text) + 1 + len(line) > limit - 2:
            return text + "\n…"
        text += "\n" + line
    return text


def _fallback(view: TicketView) -> str:
    t = view.ticket
    name = _clip(view.customer_name, 100)
    return f"Ticket #{t.id} · {escape(name)} · {escape(t.queue)} · {status_line(t)}"


def _button(verb: str, ticket_id: int) -> Block:
    button: Block = {
        "type": "button",
        "action_id": f"{DESK_ACTION_PREFIX}{verb}",
        "text": {"type": "plain_text", "text": LABELS[verb]},
        "value": str(ticket_id),
    }
    if verb == TAKE:
        button["style"] = "primary"
    return button


def _refusal(exc: TicketConflict) -> str:
    ticket = exc.ticket
    if ticket is not None and ticket.status == "assigned":
        return f"Ticket #{ticket.id} is handled by {ticket.owner_name or ticket.owner_id}."
    if ticket is not None and ticket.status == "queued":
        return f"Ticket #{ticket.id} is not taken yet: press Take first."
    return f"Not possible: {exc}."


def _section(text: str) -> Block:
    return {"type": "section", "text": _mrkdwn(text)}


def _mrkdwn(text: str) -> Block:
    return {"type": "mrkdwn", "text": text}


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
