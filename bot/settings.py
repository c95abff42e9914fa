"""All configuration, read once at start-up (environment variables, then defaults).

Names follow the contract in DESIGN.md: ``SUPPORTBOT_*`` for the bot itself, the
platform's own names for channel credentials. Secrets are ``SecretStr`` so they never
show up in a log or a traceback.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATABASE_FILE = "supportbot.db"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="SUPPORTBOT_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    database_url: str = Field(
        default=f"sqlite+aiosqlite:///{DEFAULT_DATABASE_FILE}",
        description="SQLAlchemy URL; a SQLite file in the working directory by default.",
    )
    flows_dir: Path = Path("flows")
    queues_file: Path = Field(
        default=Path("queues.yaml"),
        description="Business hours and timeouts per handoff queue (optional file).",
    )
    personas_dir: Path = Path("personas")
    http_host: str = "127.0.0.1"
    http_port: int = 8080
    http_max_body_bytes: int = Field(
        default=64 * 1024,
        ge=0,
        description="Request-body limit of an HTTP route without its own (413 past it).",
    )
    telegram_max_body_bytes: int = Field(
        default=1024 * 1024,
        ge=0,
        description="Request-body limit of POST /telegram/webhook (an update is far below).",
    )
    slack_max_body_bytes: int = Field(
        default=1024 * 1024,
        ge=0,
        description="Request-body limit of POST /slack/events (events and interactions).",
    )
    hot_reload: bool = Field(default=True, description="Watch flow/persona files for edits.")
    actions_package: str | None = Field(
        default="examples.actions",
        description="Python package of rasa-sdk actions, run in-process (importable from "
        "the working directory or installed).",
    )
    action_endpoint: str | None = Field(
        default=None,
        description="A Rasa action server (e.g. http://localhost:5055/webhook); "
        "used instead of the package when set.",
    )
    action_timeout: float = Field(default=10.0, gt=0, description="Seconds per custom action.")
    log_level: str = "INFO"
    shutdown_grace_seconds: float = Field(
        default=20.0,
        gt=0,
        description="SIGTERM: seconds to finish turns and sends; what still waits on a "
        "platform then stays queued for the next start.",
    )
    rating_enabled: bool = Field(default=True, description="Ask 'How did we do?' at the end.")
    rating_window_hours: float = Field(
        default=24, gt=0, description="Answers to the rating later than this are not counted."
    )
    recommend_url: str | None = Field(
        default=None, description="Invite 5-star customers to recommend us at this link."
    )
    routing_confident: float = Field(
        default=0.5, ge=0, le=1, description="Start a flow at this probability or more …"
    )
    routing_gap: float = Field(
        default=0.2, ge=0, le=1, description="… when it leads the next flow by this much …"
    )
    routing_similarity: float = Field(
        default=0.3, ge=-1, le=1, description="… and the message is this near an example."
    )
    routing_possible: float = Field(
        default=0.2, ge=0, le=1, description="Offer flows this probable as 'Did you mean'."
    )
    bursts: bool = Field(
        default=True,
        description="Messages that arrive while their chat's turn is queued or running are "
        "answered together, as one (false: every message on its own).",
    )
    early_ack: Literal["auto", "on", "off"] = Field(
        default="auto",
        description="Acknowledge a Telegram webhook update before its turn finished, kept "
        "in the inbox meanwhile, so a chat's next messages can join a slow turn's burst "
        "(auto: on with SQLite, off with PostgreSQL, where several workers share chats).",
    )
    early_ack_after_seconds: float = Field(
        default=0.2,
        ge=0,
        description="… when the update's turn has not finished within this time (at once "
        "when the chat already has a turn queued or running).",
    )
    flood_messages: int = Field(
        default=8,
        ge=0,
        description="A chat sending more than this many messages within the flood window "
        "is flooding: told once, its messages stored, its latest answered when it calms "
        "(0 = off).",
    )
    flood_window_seconds: float = Field(default=10, gt=0, description="The flood window.")
    flood_calm_seconds: float = Field(
        default=3, gt=0, description="A flooding chat quiet this long is answered (its latest)."
    )
    pacing: bool = Field(
        default=True,
        description="Space replies to one chat by the platforms' per-chat limits (off: "
        "send as fast as the platform takes them, 429s are still honoured).",
    )
    pace_telegram_chat_per_second: float = Field(
        default=1.0, gt=0, description="Replies per second to one Telegram private chat."
    )
    pace_telegram_group_per_minute: float = Field(
        default=20.0, gt=0, description="Messages per minute to one Telegram group."
    )
    pace_slack_channel_per_second: float = Field(
        default=1.0, gt=0, description="Messages per second to one Slack channel or DM."
    )
    pace_burst: int = Field(
        default=3, ge=1, description="Messages a chat may get at once before pacing sets in."
    )
    abandon_after_minutes: float = Field(
        default=30, gt=0, description="A conversation idle this long mid-way is abandoned."
    )
    inbound_retention_hours: int = Field(
        default=72, ge=1, description="Keep ids of handled updates this long (redelivery window)."
    )
    transcript_retention_days: int = Field(
        default=365, ge=1, description="`db vacuum` deletes transcripts of older conversations."
    )
    # Channels (names from the platforms' conventions, no SUPPORTBOT_ prefix).
    telegram_bot_token: SecretStr | None = Field(
        default=None, validation_alias="TELEGRAM_BOT_TOKEN"
    )
    telegram_api_base_url: str = Field(
        default="https://api.telegram.org", validation_alias="TELEGRAM_API_BASE_URL"
    )
    telegram_http_client: Literal["aiohttp", "httpx"] = Field(
        default="aiohttp",
        validation_alias="TELEGRAM_HTTP_CLIENT",
        description="HTTP client for the Bot API (aiohttp: cheaper per call; httpx: ptb's own).",
    )
    telegram_webhook_url: str | None = Field(default=None, validation_alias="TELEGRAM_WEBHOOK_URL")
    telegram_webhook_secret: SecretStr | None = Field(
        default=None, validation_alias="TELEGRAM_WEBHOOK_SECRET"
    )
    telegram_agent_chat_id: str | None = Field(
        default=None, validation_alias="TELEGRAM_AGENT_CHAT_ID"
    )
    slack_bot_token: SecretStr | None = Field(default=None, validation_alias="SLACK_BOT_TOKEN")
    slack_signing_secret: SecretStr | None = Field(
        default=None, validation_alias="SLACK_SIGNING_SECRET"
    )
    slack_app_token: SecretStr | None = Field(default=None, validation_alias="SLACK_APP_TOKEN")
    slack_api_url: str = Field(default="https://slack.com/api/", validation_alias="SLACK_API_URL")
    slack_agent_channel: str | None = Field(default=None, validation_alias="SLACK_AGENT_CHANNEL")
    agent_allowlist: str | None = Field(
        default=None,
        description="Comma-separated agent ids (slack:U123,telegram:42) who may act on "
        "tickets; unset = every member of the agents' channel/group.",
    )

    def allowed_agents(self) -> frozenset[str] | None:
        if not self.agent_allowlist:
            return None
        return frozenset(a.strip() for a in self.agent_allowlist.split(",") if a.strip())

    outbox_retention_days: int = Field(
        default=30, ge=1, description="`db vacuum` deletes delivered outbox rows this old."
    )
