#!/usr/bin/env python3
"""The same hand-written bot as ``bare_ptb_bot.py``, on aiogram 3: the "where is my
order" dialogue with the same texts, buttons and messages per turn, state in aiogram's
FSM (``MemoryStorage``), aiogram's defaults (``dp.start_polling``: every update handled
as its own task, aiohttp underneath).

    .venv/bin/python benchmarks/bare_aiogram_bot.py --token TOKEN --base-url http://127.0.0.1:PORT

Used by ``benchmarks/telegram_e2e.py`` as the second baseline (``--bots aiogram``).
aiogram is a benchmark-only extra (``pip install -e .[bench]``), not a dependency of
supportbot. No database, no transcript, no outbox: a crash forgets every conversation
and loses the updates being handled. Button taps are answered and their keyboard
removed, as supportbot does. Stops on SIGTERM/SIGINT (aiogram's polling handles both).
"""

from __future__ import annotations

import argparse
import asyncio
import re

from aiogram import Bot, Dispatcher, F, Router
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.fsm.storage.memory import MemoryStorage
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message

# Copied from bare_ptb_bot.py, not imported: this process must not load python-telegram-bot.
ORDERS = {
    "WS-10001": ("shipped", "tomorrow"),
    "WS-10002": ("delivered", "already (it arrived on Monday)"),
    "WS-10003": ("being packed", "in 3 days"),
}
TOPICS = (
    ("Where is my order?", "m:where_is_my_order"),
    ("Return or refund", "m:return_refund"),
    ("Reset my password", "m:reset_password"),
    ("I was charged twice", "m:charged_twice"),
    ("Problem with a delivery", "m:delivery_problem"),
    ("Talk to a person", "m:talk_to_person"),
)
ASK = "What's your order number? (It looks like WS-12345.)"
NUMBER = re.compile(r"(?i)\s*ws-?(\d{5})\s*")


class Dialogue(StatesGroup):
    menu = State()
    persona = State()
    ask_number = State()
    report = State()
    rating = State()
    comment = State()


router = Router()


def keyboard(*buttons: tuple[str, str]) -> InlineKeyboardMarkup:
    """One button per row; a value starting with http is a link."""
    rows = [
        [InlineKeyboardButton(text=label, url=value)]
        if value.startswith("http")
        else [InlineKeyboardButton(text=label, callback_data=value)]
        for label, value in buttons
    ]
    return InlineKeyboardMarkup(inline_keyboard=rows)


async def tapped(query: CallbackQuery) -> str:
    """Answer the tap (no spinner) and drop its routing buttons (links stay)."""
    await query.answer()
    message = query.message
    markup = message.reply_markup if isinstance(message, Message) else None
    if isinstance(message, Message) and markup is not None:
        links = [[b] for row in markup.inline_keyboard for b in row if b.url]
        await message.edit_reply_markup(
            reply_markup=InlineKeyboardMarkup(inline_keyboard=links) if links else None
        )
    return query.data or ""


def name_of(message: Message) -> str:
    return message.from_user.first_name if message.from_user else ""


@router.message(F.text, ~F.text.startswith("/"), Dialogue.ask_number)
async def order_number(message: Message, state: FSMContext) -> None:
    match = NUMBER.fullmatch(message.text or "")
    if match is None:
        await message.answer(f'Order numbers look like WS-12345 — five digits after "WS-". {ASK}')
        return
    number = f"WS-{match.group(1)}"
    status, eta = ORDERS.get(number, ("unknown", "unknown"))
    await message.answer(
        f"Order {number}: {status}, expected {eta}.",
        reply_markup=keyboard(
            ("Track it", f"https://track.shop.example/{number}"),
            ("Thanks, that's all", "b:thanks"),
            ("Something's wrong", "b:wrong"),
        ),
    )
    await state.set_state(Dialogue.report)


@router.message(F.text, ~F.text.startswith("/"), Dialogue.comment)
async def comment(message: Message, state: FSMContext) -> None:
    await message.answer(
        "Thanks — that helps us improve.", reply_markup=keyboard(("Main menu", "g:menu"))
    )
    await state.set_state(Dialogue.menu)


@router.message(F.text, ~F.text.startswith("/"))  # no state yet, or the menu
async def text_in_menu(message: Message, state: FSMContext) -> None:
    said = (message.text or "").strip().lower()
    if "order" in said:
        if (await state.get_data()).get("persona"):
            topic = "“Where is my order?”"
            await message.answer(f"Welcome back, {name_of(message)}! Last time we talked "
                                 f"about {topic}. How can I help today?")  # fmt: skip
            await message.answer(ASK)
            await state.set_state(Dialogue.ask_number)
            return
        await message.answer(
            "Before we start: how do you like to be helped?",
            reply_markup=keyboard(("Quick answers", "p:self_serve"), ("Step by step", "p:guided")),
        )
        await state.set_state(Dialogue.persona)
        return
    await message.answer(f"Hi {name_of(message)}! I'm the support assistant. How can I help?")
    await message.answer(
        "Pick a topic below, or just tell me what's wrong in your own words.",
        reply_markup=keyboard(*TOPICS),
    )
    await state.set_state(Dialogue.menu)


@router.callback_query(Dialogue.persona, F.data.startswith("p:"))
async def persona(query: CallbackQuery, state: FSMContext) -> None:
    choice = await tapped(query)
    await state.update_data(persona=choice.removeprefix("p:"))
    label = "Quick answers" if choice == "p:self_serve" else "Step by step"
    assert query.message is not None
    chat_id = query.message.chat.id
    bot = query.bot
    assert bot is not None
    await bot.send_message(chat_id, f"Got it — {label}. You can switch any time.")
    await bot.send_message(chat_id, ASK)
    await state.set_state(Dialogue.ask_number)


@router.callback_query(Dialogue.report, F.data.startswith("b:"))
async def report(query: CallbackQuery, state: FSMContext) -> None:
    await tapped(query)
    assert query.message is not None and query.bot is not None
    chat_id = query.message.chat.id
    await query.bot.send_message(chat_id, "Happy to help — enjoy your order!")
    scores = ("😞 1", "🙁 2", "😐 3", "🙂 4", "😀 5")
    await query.bot.send_message(
        chat_id, "How did we do?", reply_markup=keyboard(*((s, f"r:{s[-1]}") for s in scores))
    )
    await state.set_state(Dialogue.rating)


@router.callback_query(Dialogue.rating, F.data.startswith("r:"))
async def rating(query: CallbackQuery, state: FSMContext) -> None:
    await tapped(query)
    assert query.message is not None and query.bot is not None
    await query.bot.send_message(
        query.message.chat.id,
        "Thank you! Anything we could do better?",
        reply_markup=keyboard(("Skip", "r:skip")),
    )
    await state.set_state(Dialogue.comment)


async def main_async(token: str, base_url: str) -> None:
    server = TelegramAPIServer.from_base(base_url.rstrip("/"))
    bot = Bot(token, session=AiohttpSession(api=server))
    dispatcher = Dispatcher(storage=MemoryStorage())
    dispatcher.include_router(router)
    await dispatcher.start_polling(bot, polling_timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--token", required=True)
    parser.add_argument("--base-url", required=True, help="Bot API server root")
    args = parser.parse_args()
    asyncio.run(main_async(args.token, args.base_url))


if __name__ == "__main__":
    main()
