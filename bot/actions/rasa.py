"""Custom actions written with rasa-sdk, run in-process or on a Rasa action server.

A flow step ``action: NAME`` becomes a standard Rasa *action call* — the same JSON a
Rasa assistant posts to its action server's ``/webhook`` — so actions written for Rasa
run unchanged, and both ways of running them behave the same:

- :class:`InProcessActions` registers a Python package with rasa-sdk's own
  ``ActionExecutor`` (``SUPPORTBOT_ACTIONS_PACKAGE``);
- :class:`ActionServer` posts to a running action server
  (``SUPPORTBOT_ACTION_ENDPOINT``, e.g. ``python -m rasa_sdk --actions my_actions``).

The tracker an action sees (:func:`action_call`): ``sender_id`` is the customer id
(``telegram:42``); ``slots`` the flow's slots; ``latest_message`` the customer's last text
with ``intent`` = the flow id; ``events`` the recent transcript as Rasa events (``user``,
``bot``, ``action``, ``active_loop`` when a flow starts/ends) followed by a ``slot`` event
per slot; ``active_loop`` = the running flow. What comes back (:func:`action_result`):
``utter_message`` text, buttons and images become replies; ``SlotSet`` sets flow slots;
``AllSlotsReset`` clears them; ``FollowupAction`` sets the slot ``followup_action`` (flows
branch on it); ``BotUttered`` is a reply. Anything else is logged once and ignored.

Apart from the seam (:mod:`bot.actions.calls`) because it imports rasa-sdk and httpx,
which only the code that runs actions needs.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import os
import sys
from collections.abc import Mapping
from typing import Any

import httpx
import rasa_sdk
from rasa_sdk.executor import ActionExecutor
from rasa_sdk.interfaces import ActionExecutionRejection, ActionNotFoundException

from bot.actions.calls import ActionCall
from bot.engine.effects import ActionResultEvent, Reply
from bot.errors import ActionError
from bot.messages import Button
from storage.records import TranscriptEntry

log = logging.getLogger("supportbot.actions")

FOLLOWUP_SLOT = "followup_action"
_TEXT_BUTTON = "t:"
_MAX_PAYLOAD_BYTES = 64  # Telegram's callback_data limit
_warned: set[str] = set()


class BadActionResponse(Exception):
    """What an action (or its server) returned is not a valid Rasa action response."""


def form_name(action_name: str) -> str:
    """The form a FormValidationAction validates (rasa-sdk's own rule)."""
    return action_name.replace("validate_", "", 1)


def action_call(call: ActionCall) -> dict[str, Any]:
    """The Rasa action-call JSON for one of our action calls."""
    slots = dict(call.slots)
    events = [_event_of(entry) for entry in call.history]
    events = [e for e in events if e is not None]
    validated = call.validating[0] if call.validating else None
    events += [_slot(name, value) for name, value in slots.items() if name != validated]
    latest = {
        "text": call.latest_text,
        "intent": {"name": call.flow_id, "confidence": 1.0},
        "intent_ranking": [{"name": call.flow_id, "confidence": 1.0}],
        "entities": [],
    }
    events.append({"event": "user", "text": call.latest_text, "parse_data": latest})
    domain_slots = {name: {"type": "any", "mappings": [{"type": "custom"}]} for name in slots}
    forms: dict[str, Any] = {}
    if call.validating is not None:
        slot, candidate = call.validating
        slots[slot] = candidate
        events.append(_slot(slot, candidate))  # rasa-sdk validates the trailing slot events
        domain_slots[slot] = {"type": "any", "mappings": [{"type": "custom"}]}
        forms[form_name(call.name)] = {"required_slots": [slot]}
    tracker = {
        "sender_id": call.customer_id,
        "slots": slots,
        "latest_message": latest,
        "events": events,
        "paused": False,
        "followup_action": None,
        "active_loop": {"name": call.flow_id},
        "latest_action_name": "action_listen",
    }
    domain = {
        "intents": [call.flow_id],
        "entities": [],
        "slots": domain_slots,
        "responses": {},
        "actions": [call.name],
        "forms": forms,
    }
    return {
        "next_action": call.name,
        "sender_id": call.customer_id,
        "tracker": tracker,
        "domain": domain,
        "version": rasa_sdk.__version__,
    }


def _slot(name: str, value: Any) -> dict[str, Any]:
    return {"event": "slot", "name": name, "value": value}


def _event_of(entry: TranscriptEntry) -> dict[str, Any] | None:
    stamp = entry.created_at.timestamp()
    if entry.direction == "in":
        text = entry.text or str(entry.data.get("payload") or "")
        return {"event": "user", "timestamp": stamp, "text": text, "parse_data": {"text": text}}
    if entry.direction == "out":
        return {"event": "bot", "timestamp": stamp, "text": entry.text}
    if entry.kind == "action":
        return {"event": "action", "timestamp": stamp, "name": entry.data.get("action")}
    if entry.kind == "flow_started":
        return {"event": "active_loop", "timestamp": stamp, "name": entry.data.get("flow")}
    if entry.kind in ("resolved", "handoff"):
        return {"event": "active_loop", "timestamp": stamp, "name": None}
    return None


def action_result(call: ActionCall, body: Any) -> ActionResultEvent:
    """Apply a Rasa action response (``{"events": [...], "responses": [...]}``)."""
    if not isinstance(body, Mapping):
        raise BadActionResponse("the response is not a JSON object")
    events, responses = body.get("events") or [], body.get("responses") or []
    if not isinstance(events, list) or not isinstance(responses, list):
        raise BadActionResponse("`events` and `responses` must be lists")
    replies = [_reply(call.name, r) for r in responses]
    slots: dict[str, Any] = {}
    for event in events:
        if not isinstance(event, Mapping) or not isinstance(event.get("event"), str):
            raise BadActionResponse(f"not a Rasa event: {str(event)[:80]}")
        kind = event["event"]
        if kind == "slot" and isinstance(event.get("name"), str):
            slots[event["name"]] = event.get("value")
        elif kind == "reset_slots":
            slots = {name: None for name in call.slots}
        elif kind == "followup":
            slots[FOLLOWUP_SLOT] = event.get("name")
        elif kind == "bot" and event.get("text"):
            replies.append(Reply(str(event["text"])))
        else:
            _warn_once(f"event:{kind}", "action %r returned a %r event; it is ignored",
                       call.name, kind)  # fmt: skip
    return ActionResultEvent(ok=True, slots=slots, replies=tuple(r for r in replies if r))


def _reply(action: str, response: Any) -> Reply | None:
    if not isinstance(response, Mapping):
        raise BadActionResponse(f"not a Rasa response: {str(response)[:80]}")
    lines = [str(response.get("text") or "")]
    for key in ("image", "attachment"):
        if isinstance(response.get(key), str):
            lines.append(response[key])  # a link: the channels show a preview of it
    text = "\n".join(line for line in lines if line)
    buttons = tuple(_button(b) for b in response.get("buttons") or [] if isinstance(b, Mapping))
    for key in ("response", "custom", "json_message", "elements"):
        if response.get(key):
            _warn_once(f"response:{key}", "action %r sent a %r message; it is ignored "
                       "(send text, buttons or an image)", action, key)  # fmt: skip
    return Reply(text, tuple(b for b in buttons if b is not None)) if text or buttons else None


def _button(spec: Mapping[str, Any]) -> Button | None:
    """A Rasa button: a link, or a text the customer "says" by tapping it."""
    title = str(spec.get("title") or spec.get("payload") or "")[:64]
    if not title:
        return None
    if isinstance(spec.get("url"), str):
        return Button(title, url=spec["url"])
    payload = str(spec.get("payload") or title)
    if payload.startswith("/"):  # a Rasa intent ("/affirm"): we route by text instead
        payload = title
    encoded = f"{_TEXT_BUTTON}{payload}"
    if len(encoded.encode()) > _MAX_PAYLOAD_BYTES:
        encoded = f"{_TEXT_BUTTON}{title}".encode()[:_MAX_PAYLOAD_BYTES].decode("utf-8", "ignore")
    return Button(title, encoded)


def _warn_once(key: str, message: str, *args: Any) -> None:
    if key not in _warned:
        _warned.add(key)
        log.warning(message, *args)


def _failed(call: ActionCall, error: str) -> ActionResultEvent:
    log.error(
        "custom action %r failed (flow %s, step %s): %s", call.name, call.flow_id,
        call.step_id, error,
    )  # fmt: skip
    return ActionResultEvent(ok=False, error=error)


class InProcessActions:
    """rasa-sdk actions from a Python package, run by rasa-sdk's ``ActionExecutor``.

    Actions run on the bot's event loop: write them ``async`` (a blocking call holds up
    every conversation; move it to ``asyncio.to_thread``)."""

    def __init__(self, package: str, timeout: float = 10.0) -> None:
        if os.getcwd() not in sys.path:
            sys.path.insert(0, os.getcwd())  # like `python -m rasa_sdk --actions pkg`
        try:
            module = importlib.import_module(package)
        except ImportError as exc:
            raise ActionError(
                f"SUPPORTBOT_ACTIONS_PACKAGE={package}: cannot import it ({exc})"
            ) from exc
        self._executor = ActionExecutor()
        self._executor.register_package(module)
        self._timeout = timeout
        self.source = f"package {package}"

    async def names(self) -> frozenset[str]:
        return frozenset(self._executor.actions)

    async def run(self, call: ActionCall) -> ActionResultEvent:
        try:
            async with asyncio.timeout(self._timeout):
                result = await self._executor.run(action_call(call))
        except ActionNotFoundException:
            return _failed(call, f"no action {call.name!r} in {self.source}")
        except ActionExecutionRejection as exc:
            return _failed(call, f"rejected: {exc.message}")
        except TimeoutError:
            return _failed(call, f"timed out after {self._timeout:g}s")
        except Exception as exc:
            log.debug("action %r raised", call.name, exc_info=True)
            return _failed(call, f"raised {type(exc).__name__}: {exc}")
        try:
            return action_result(call, result.model_dump() if result else None)
        except BadActionResponse as exc:
            return _failed(call, f"bad response: {exc}")


class ActionServer:
    """rasa-sdk actions on a Rasa action server, over its ``/webhook`` protocol."""

    def __init__(
        self, endpoint: str, timeout: float = 10.0, client: httpx.AsyncClient | None = None
    ) -> None:
        base = endpoint.rstrip("/")
        self._webhook = base if base.endswith("/webhook") else f"{base}/webhook"
        self._base = self._webhook.removesuffix("/webhook")
        self._timeout = timeout
        self._client = client or httpx.AsyncClient(timeout=timeout)
        self.source = f"action server {self._base}"

    async def names(self) -> frozenset[str]:
        try:
            response = await self._client.get(f"{self._base}/actions", timeout=self._timeout)
            response.raise_for_status()
            return frozenset(str(item["name"]) for item in response.json())
        except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
            raise ActionError(f"cannot list the actions of {self.source}: {exc}") from exc

    async def run(self, call: ActionCall) -> ActionResultEvent:
        try:
            response = await self._client.post(
                self._webhook, json=action_call(call), timeout=self._timeout
            )
        except httpx.TimeoutException:
            return _failed(call, f"timed out after {self._timeout:g}s")
        except httpx.HTTPError as exc:
            return _failed(call, f"{self.source} unreachable: {type(exc).__name__}")
        if response.status_code == 404:
            return _failed(call, f"no action {call.name!r} on {self.source}")
        if response.status_code != 200:
            return _failed(call, f"{self.source} answered HTTP {response.status_code}")
        try:
            return action_result(call, response.json())
        except (BadActionResponse, ValueError) as exc:
            return _failed(call, f"bad response: {exc}")

    async def close(self) -> None:
        await self._client.aclose()


RasaActions = InProcessActions | ActionServer


def configured_actions(
    package: str | None, endpoint: str | None, timeout: float
) -> RasaActions | None:
    """The runner the settings ask for: the action server wins over a package."""
    if endpoint:
        return ActionServer(endpoint, timeout)
    if package:
        return InProcessActions(package, timeout)
    return None
