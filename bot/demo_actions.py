"""Actions of the demo web shop that the shipped flows use.

They answer from a small in-memory order table so the shipped flows run end to end with
no back-end. Replace them with your own (see the custom-actions section of the README).
"""

from __future__ import annotations

import re

from bot.actions import ActionCall, ActionFunction
from bot.engine.effects import ActionResultEvent

DEMO_ORDERS: dict[str, dict[str, str]] = {
    "WS-10001": {"status": "shipped", "eta": "tomorrow", "carrier": "DHL"},
    "WS-10002": {"status": "delivered", "eta": "already (it arrived on Monday)", "carrier": "UPS"},
    "WS-10003": {"status": "being packed", "eta": "in 3–4 days", "carrier": "DPD"},
}
_ORDER_NUMBER = re.compile(r"(?i)ws-?(\d{5})")


async def order_status(call: ActionCall) -> ActionResultEvent:
    """Look an order up: sets order_found, order_status, eta, carrier, tracking_url."""
    raw = str(call.slots.get("order_number", ""))
    match = _ORDER_NUMBER.search(raw)
    number = f"WS-{match.group(1)}" if match else raw.strip()
    order = DEMO_ORDERS.get(number)
    if order is None:
        return ActionResultEvent(ok=True, slots={"order_found": False, "order_number": number})
    return ActionResultEvent(
        ok=True,
        slots={
            "order_found": True,
            "order_number": number,
            "order_status": order["status"],
            "eta": order["eta"],
            "carrier": order["carrier"],
            "tracking_url": f"https://track.shop.example/{number}",
        },
    )


DEMO_ACTIONS: dict[str, ActionFunction] = {"order_status": order_status}
