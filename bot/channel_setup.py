"""Which channels and agent desks run: those whose settings are present (names per DESIGN.md).

It builds both channels and desks, so it sits above `bot/channels/` and `bot/handoff/`
(the desks import the channels, never the other way round)."""

from __future__ import annotations

from bot.app import App
from bot.channels.base import Channel, InboundGate
from bot.channels.files import FileSources
from bot.errors import ConfigError
from bot.handoff.desk_feed import Desk
from bot.handoff.service import HandoffService
from bot.settings import Settings


def build_channels(settings: Settings, gate: InboundGate, app: App) -> list[Channel]:
    """Construct (not start) every configured channel; bad settings raise ConfigError.
    They share one file registry, so a file crosses from one platform to the other."""
    channels: list[Channel] = []
    files = FileSources()
    if settings.telegram_bot_token is not None:
        from bot.channels.telegram import TelegramChannel

        receipts = app.receipts if app.early_ack else None
        channels.append(TelegramChannel(settings, gate, files=files, receipts=receipts))
    if settings.slack_bot_token is not None:
        if settings.slack_signing_secret is None and settings.slack_app_token is None:
            raise ConfigError(
                "SLACK_BOT_TOKEN is set but SLACK_SIGNING_SECRET is not: Slack requests "
                "cannot be verified. Set SLACK_SIGNING_SECRET (or SLACK_APP_TOKEN for "
                "Socket Mode)."
            )
        from bot.channels.slack import SlackChannel

        channels.append(SlackChannel(settings, gate, app.store, files))
    return channels


def build_desks(
    settings: Settings, app: App, service: HandoffService, channels: list[Channel]
) -> list[Desk]:
    """The agents' desks on the channels that run (SLACK_AGENT_CHANNEL, TELEGRAM_AGENT_CHAT_ID)."""
    from bot.channels.slack import SlackChannel
    from bot.channels.telegram import TelegramChannel
    from bot.handoff.slack_desk import build_slack_desk
    from bot.handoff.telegram_desk import build_telegram_desk

    desks: list[Desk] = []
    for channel in channels:
        desk: Desk | None = None
        if isinstance(channel, SlackChannel):
            desk = build_slack_desk(settings, app.store, service, channel)
        elif isinstance(channel, TelegramChannel):
            desk = build_telegram_desk(settings, service, channel)
        if desk is not None:
            desks.append(desk)
    return desks
