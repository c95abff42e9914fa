"""Order actions: ``order_status``, ``refund_status`` and ``validate_order_form``.

``order_status`` and ``refund_status`` only set slots; the flow words the answer
(e.g. "Order {{ order_number }}: {{ order_status }}, expected {{ eta }}.").
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.forms import FormValidationAction
from rasa_sdk.types import DomainDict

from examples.actions import shop
from examples.actions.text import format_money, human_day, normalise_order_number, order_eta

logger = logging.getLogger(__name__)

FORMAT_HINT = (
    "That doesn't look like an order number. It's in your confirmation email, like WS-12345."
)
NOT_FOUND = "I can't find an order {number}; it's in your confirmation email, like WS-12345."


def _order_number_slot(tracker: Tracker) -> tuple[str | None, str | None]:
    """(normalised order number or None, the slot's text as given, trimmed)."""
    raw = tracker.get_slot("order_number")
    given = str(raw).strip() if raw is not None else None
    return normalise_order_number(raw), given or None


class OrderStatus(Action):
    """Looks the order in slot ``order_number`` up.

    Sets ``order_found`` and the normalised ``order_number``; when found also
    ``order_status``, ``eta`` (words relative to today), ``carrier`` and ``tracking_url``.
    """

    def name(self) -> str:
        return "order_status"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        number, given = _order_number_slot(tracker)
        order = (
            await asyncio.to_thread(shop.find_order, number, shop.database_url())
            if number
            else None
        )
        if order is None:
            logger.debug("order_status: no order %r", given)
            return [SlotSet("order_found", False), SlotSet("order_number", number or given)]
        eta = order_eta(
            order.status,
            shop.utc_today(),
            eta_from=order.eta_from,
            eta_to=order.eta_to,
            delivered_on=order.delivered_on,
        )
        return [
            SlotSet("order_found", True),
            SlotSet("order_number", order.number),
            SlotSet("order_status", order.status),
            SlotSet("eta", eta),
            SlotSet("carrier", order.carrier),
            SlotSet("tracking_url", order.tracking_url),
        ]


class RefundStatus(Action):
    """Looks up the refund of the order in slot ``order_number``.

    Sets ``refund_found`` and the normalised ``order_number``; when found also
    ``refund_status`` ("issued" / "pending"), ``refund_amount`` ("€49.90") and
    ``refund_when`` ("on Monday" / "within 5 business days").
    """

    def name(self) -> str:
        return "refund_status"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        number, given = _order_number_slot(tracker)
        refund = (
            await asyncio.to_thread(shop.find_refund, number, shop.database_url())
            if number
            else None
        )
        if refund is None:
            logger.debug("refund_status: no refund for %r", given)
            return [SlotSet("refund_found", False), SlotSet("order_number", number or given)]
        if refund.status == "issued" and refund.issued_on is not None:
            when = human_day(refund.issued_on, shop.utc_today())
        elif refund.expected_business_days:
            when = f"within {refund.expected_business_days} business days"
        else:
            when = "soon"
        return [
            SlotSet("refund_found", True),
            SlotSet("order_number", refund.order_number),
            SlotSet("refund_status", refund.status),
            SlotSet("refund_amount", format_money(refund.amount_cents, refund.currency)),
            SlotSet("refund_when", when),
        ]


class ValidateOrderForm(FormValidationAction):
    """Validates ``order_number`` for the form ``order_form``: known orders only."""

    def name(self) -> str:
        return "validate_order_form"

    async def validate_order_number(
        self,
        slot_value: Any,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> dict[str, Any]:
        number = normalise_order_number(slot_value)
        if number is None:
            dispatcher.utter_message(text=FORMAT_HINT)
            return {"order_number": None}
        order = await asyncio.to_thread(shop.find_order, number, shop.database_url())
        if order is None:
            dispatcher.utter_message(text=NOT_FOUND.format(number=number))
            return {"order_number": None}
        return {"order_number": order.number}
