"""Which channels run: those whose settings are present (names per DESIGN.md)."""

from __future__ import annotations

from bot.app import App
from bot.channels.base import Channel, InboundGate
from bot.errors import ConfigError
from bot.settings import Settings


def build_channels(settings: Settings, gate: InboundGate, app: App) -> list[Channel]:
    """Construct (not start) every configured channel; bad settings raise ConfigError."""
    channels: list[Channel] = []
    if settings.telegram_bot_token is not None:
        from bot.channels.telegram import TelegramChannel

        channels.append(TelegramChannel(settings, gate))
    if settings.slack_bot_token is not None:
        if settings.slack_signing_secret is None and settings.slack_app_token is None:
            raise ConfigError(
                "SLACK_BOT_TOKEN is set but SLACK_SIGNING_SECRET is not: Slack requests "
                "cannot be verified. Set SLACK_SIGNING_SECRET (or SLACK_APP_TOKEN for "
                "Socket Mode)."
            )
        from bot.channels.slack import SlackChannel

        channels.append(SlackChannel(settings, gate, app.store))
    return channels
