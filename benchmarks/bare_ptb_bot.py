#!/usr/bin/env python3
"""The bot a team would write by hand: python-telegram-bot's ``ConversationHandler``,
state in memory, the same "where is my order" dialogue as supportbot's shipped flow in
the self-serve persona (same texts, buttons and number of messages per turn).

    .venv/bin/python benchmarks/bare_ptb_bot.py --token TOKEN --base-url http://127.0.0.1:PORT

Used by ``benchmarks/telegram_e2e.py`` as the baseline. No database, no transcript, no
outbox: a crash forgets every conversation, and ptb's poller confirms updates before
their handlers run (a crash loses them too). Button taps are answered and their
keyboard removed, as supportbot does. Stops on SIGTERM/SIGINT (``run_polling``).
"""

from __future__ import annotations

import argparse
import re
import warnings
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    ContextTypes,
    ConversationHandler,
    MessageHandler,
    filters,
)
from telegram.warnings import PTBUserWarning

MENU, PERSONA, ASK_NUMBER, REPORT, RATING, COMMENT = range(6)

ORDERS = {
    "WS-10001": ("shipped", "tomorrow"),
    "WS-10002": ("delivered", "already (it arrived on Monday)"),
    "WS-10003": ("being packed", "in 3 days"),
}
NUMBER = re.compile(r"(?i)\s*ws-?(\d{5})\s*")
TOPICS = (
    ("Where is my order?", "m:where_is_my_order"),
    ("Return or refund", "m:return_refund"),
    ("Reset my password", "m:reset_password"),
    ("I was charged twice", "m:charged_twice"),
    ("Problem with a delivery", "m:delivery_problem"),
    ("Talk to a person", "m:talk_to_person"),
)
ASK = "What's your order number? (It looks like WS-12345.)"

Context = ContextTypes.DEFAULT_TYPE


def keyboard(*buttons: tuple[str, str]) -> InlineKeyboardMarkup:
    """One button per row; a value starting with http is a link."""
    rows = [
        [InlineKeyboardButton(label, url=value)]
        if value.startswith("http")
        else [InlineKeyboardButton(label, callback_data=value)]
        for label, value in buttons
    ]
    return InlineKeyboardMarkup(rows)


def name_of(update: Update) -> str:
    user = update.effective_user
    return user.first_name if user else ""


async def reply(update: Update, context: Context, text: str, markup: Any = None) -> None:
    chat = update.effective_chat
    assert chat is not None
    await context.bot.send_message(chat.id, text, reply_markup=markup)


async def tapped(update: Update) -> str:
    """Answer the tap (no spinner) and drop its routing buttons (links stay)."""
    query = update.callback_query
    assert query is not None
    await query.answer()
    message = query.message
    markup = message.reply_markup if isinstance(message, Message) else None
    if markup is not None:
        links = [[b] for row in markup.inline_keyboard for b in row if b.url]
        await query.edit_message_reply_markup(InlineKeyboardMarkup(links) if links else None)
    return query.data or ""


async def text_in_menu(update: Update, context: Context) -> int:
    assert update.message is not None
    said = (update.message.text or "").strip().lower()
    data: dict[str, Any] = context.user_data if context.user_data is not None else {}
    if "order" in said:
        if data.get("persona"):
            topic = "“Where is my order?”"
            await reply(update, context, f"Welcome back, {name_of(update)}! Last time we talked "
                        f"about {topic}. How can I help today?")  # fmt: skip
            await reply(update, context, ASK)
            return ASK_NUMBER
        await reply(
            update,
            context,
            "Before we start: how do you like to be helped?",
            keyboard(("Quick answers", "p:self_serve"), ("Step by step", "p:guided")),
        )
        return PERSONA
    await reply(
        update, context, f"Hi {name_of(update)}! I'm the support assistant. How can I help?"
    )
    await reply(
        update,
        context,
        "Pick a topic below, or just tell me what's wrong in your own words.",
        keyboard(*TOPICS),
    )
    return MENU


async def persona(update: Update, context: Context) -> int:
    choice = await tapped(update)
    if context.user_data is not None:
        context.user_data["persona"] = choice.removeprefix("p:")
    label = "Quick answers" if choice == "p:self_serve" else "Step by step"
    await reply(update, context, f"Got it — {label}. You can switch any time.")
    await reply(update, context, ASK)
    return ASK_NUMBER


async def order_number(update: Update, context: Context) -> int:
    assert update.message is not None
    match = NUMBER.fullmatch(update.message.text or "")
    if match is None:
        await reply(update, context, "Order numbers look like WS-12345 — five digits after "
                    f'"WS-". {ASK}')  # fmt: skip
        return ASK_NUMBER
    number = f"WS-{match.group(1)}"
    status, eta = ORDERS.get(number, ("unknown", "unknown"))
    await reply(
        update,
        context,
        f"Order {number}: {status}, expected {eta}.",
        keyboard(
            ("Track it", f"https://track.shop.example/{number}"),
            ("Thanks, that's all", "b:thanks"),
            ("Something's wrong", "b:wrong"),
        ),
    )
    return REPORT


async def report(update: Update, context: Context) -> int:
    await tapped(update)
    await reply(update, context, "Happy to help — enjoy your order!")
    scores = ("😞 1", "🙁 2", "😐 3", "🙂 4", "😀 5")
    await reply(update, context, "How did we do?", keyboard(*((s, f"r:{s[-1]}") for s in scores)))
    return RATING


async def rating(update: Update, context: Context) -> int:
    await tapped(update)
    await reply(
        update, context, "Thank you! Anything we could do better?", keyboard(("Skip", "r:skip"))
    )
    return COMMENT


async def comment(update: Update, context: Context) -> int:
    await reply(
        update, context, "Thanks — that helps us improve.", keyboard(("Main menu", "g:menu"))
    )
    return MENU


def build(
    token: str, base_url: str, concurrent_updates: int
) -> Application[Any, Any, Any, Any, Any, Any]:
    text = filters.TEXT & ~filters.COMMAND
    conversation = ConversationHandler(
        entry_points=[MessageHandler(text, text_in_menu)],
        states={
            MENU: [MessageHandler(text, text_in_menu)],
            PERSONA: [CallbackQueryHandler(persona, pattern="^p:")],
            ASK_NUMBER: [MessageHandler(text, order_number)],
            REPORT: [CallbackQueryHandler(report, pattern="^b:")],
            RATING: [CallbackQueryHandler(rating, pattern="^r:")],
            COMMENT: [MessageHandler(text, comment)],
        },
        fallbacks=[],
    )
    builder = Application.builder().token(token).base_url(f"{base_url.rstrip('/')}/bot")
    if concurrent_updates > 1:
        builder = builder.concurrent_updates(concurrent_updates)
    application = builder.build()
    application.add_handler(conversation)
    return application


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--token", required=True)
    parser.add_argument("--base-url", required=True, help="Bot API server root")
    parser.add_argument(
        "--concurrent-updates",
        type=int,
        default=1,
        help="ptb's concurrent_updates (1 = ptb's default: one update at a time)",
    )
    args = parser.parse_args()
    warnings.filterwarnings("ignore", category=PTBUserWarning)  # per_message=False notes
    application = build(args.token, args.base_url, args.concurrent_updates)
    application.run_polling(poll_interval=0.0, timeout=10, allowed_updates=Update.ALL_TYPES)


if __name__ == "__main__":
    main()
