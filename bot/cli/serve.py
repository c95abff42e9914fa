"""The commands that run the bot: ``supportbot run`` (every configured channel), ``chat``
(a customer in this terminal) and ``desk`` (an agent in this terminal).

Together because ``run`` falls back to ``chat`` when no channel is configured. Registered
on the top-level app by :mod:`bot.cli.main`; channels, runner and desk are imported inside
the commands that use them.
"""

from __future__ import annotations

import contextlib
import getpass
from typing import Annotated

import typer

from bot.app import build_app
from bot.channels.console import ConsoleChannel, ConsoleTransport
from bot.cli.common import load_settings, run_async, setup_logging
from bot.delivery import OutboxSender
from bot.messages import Outbound


def chat(
    name: Annotated[
        str | None, typer.Option(help="Your first name, as a platform would send it.")
    ] = None,
    user: Annotated[
        str | None, typer.Option(help="Customer id (default: your login name).")
    ] = None,
    verbose: Annotated[bool, typer.Option(help="Show log lines in the terminal.")] = False,
) -> None:
    """Chat with the bot in this terminal, as a customer (state is kept between runs)."""
    # You type yourself (or paste a script to try flows): no flood protection here.
    settings = load_settings().model_copy(update={"flood_messages": 0})
    setup_logging(settings.log_level if verbose else "WARNING", settings)

    async def main() -> None:
        bot = await build_app(settings)
        bot.start_background()
        try:
            user_id = user or getpass.getuser()
            transport = ConsoleTransport()
            sender = OutboxSender(bot.store.outbox, transport, chat_id=user_id, lease_seconds=5)

            async def flush() -> list[Outbound]:
                while await sender.deliver_due():
                    pass
                return transport.take()

            console = ConsoleChannel(bot.manager.handle, flush, user_id, name)
            await console.run()
        finally:
            await bot.close()

    with contextlib.suppress(KeyboardInterrupt):
        run_async(main, settings.database_url)


def run(
    verbose: Annotated[bool, typer.Option(help="Log at DEBUG level.")] = False,
) -> None:
    """Serve every configured channel (Telegram, Slack) plus /healthz and /metrics.

    With no channel configured, starts the console chat instead.
    """
    settings = load_settings()
    if not (settings.telegram_bot_token or settings.slack_bot_token):
        typer.echo(
            "No channel configured (set TELEGRAM_BOT_TOKEN and/or SLACK_BOT_TOKEN); "
            "starting the console chat.",
            err=True,
        )
        chat(name=None, user=None, verbose=verbose)
        return
    setup_logging("DEBUG" if verbose else settings.log_level, settings)

    async def main() -> None:
        from bot.channel_setup import build_channels, build_desks
        from bot.channels.base import InboundGate
        from bot.runner import Runner

        bot = await build_app(settings)
        gate = InboundGate(bot.manager.handle)
        try:
            channels = build_channels(settings, gate, bot)
        except BaseException:
            await bot.close()
            raise
        runner = Runner(bot, gate, channels)
        runner.desks.extend(build_desks(settings, bot, runner.handoff, channels))
        runner.install_signal_handlers()
        await runner.serve(settings.http_host, settings.http_port)

    run_async(main, settings.database_url)


def desk(
    agent: Annotated[str | None, typer.Option(help="Your agent name (default: login).")] = None,
) -> None:
    """The agents' desk in this terminal: take tickets, talk to customers, close."""
    from bot.channels.terminal import read_line
    from bot.handoff.console_desk import ConsoleDesk
    from bot.handoff.service import Agent, HandoffService

    settings = load_settings()
    setup_logging("WARNING", settings)
    name = agent or getpass.getuser()

    async def main() -> None:
        bot = await build_app(settings)
        try:
            service = HandoffService(bot.store, bot.manager)
            console = ConsoleDesk(service, bot.store, Agent(f"console:{name}", name))
            await console.run(read_line("agent › "))
        finally:
            await bot.close()

    with contextlib.suppress(KeyboardInterrupt):
        run_async(main, settings.database_url)
