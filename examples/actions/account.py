"""Account actions: ``resend_password_link``."""

from __future__ import annotations

import asyncio
import logging

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from examples.actions import shop
from examples.actions.text import mask_email, normalise_email

logger = logging.getLogger(__name__)

LINK_SENT = "I've sent a new reset link to {email}. It's valid for 1 hour."


class ResendPasswordLink(Action):
    """Sends a new password-reset link to the account in slot ``email``.

    Known account: records the link (table ``password_link``), tells the customer where it
    went (masked address) and sets ``link_sent`` True. Otherwise sets ``link_sent`` False and
    says nothing: the flow explains what to do next.
    """

    def name(self) -> str:
        return "resend_password_link"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        email = normalise_email(tracker.get_slot("email"))
        link = (
            await asyncio.to_thread(shop.send_password_link, email, shop.database_url())
            if email
            else None
        )
        if link is None:
            logger.debug("resend_password_link: no account for the given email")
            return [SlotSet("link_sent", False)]
        dispatcher.utter_message(text=LINK_SENT.format(email=mask_email(link.email)))
        return [SlotSet("link_sent", True)]
