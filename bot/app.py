"""Composition root: builds the store, the flow registry and the manager, and runs their
background tasks. Nothing else."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from datetime import timedelta

from bot.actions import ActionRunner, LocalActionRunner
from bot.actions.rasa import ActionServer, configured_actions
from bot.conversation.abandonment import SWEEP_SECONDS, end_abandoned
from bot.conversation.flood import FloodPolicy
from bot.conversation.manager import ConversationManager, RatingPolicy
from bot.conversation.queues import load_queues
from bot.conversation.receipts import Receipts
from bot.engine.registry import FlowRegistry
from bot.engine.understanding.decision import RoutingThresholds
from bot.errors import ActionError, log_failure
from bot.handoff.watcher import WATCH_SECONDS, update_waiting_customers
from bot.messages import ConversationKey
from bot.settings import Settings
from storage.maintenance import prune_inbound
from storage.sql import SqlStore, open_store
from storage.urls import mask_url

log = logging.getLogger("supportbot")


HOUSEKEEPING_INTERVAL = timedelta(hours=1)


@dataclass(slots=True)
class App:
    settings: Settings
    store: SqlStore
    registry: FlowRegistry
    manager: ConversationManager
    receipts: Receipts
    """Updates acknowledged before their turn finished: kept, and run again if need be."""
    actions: ActionRunner | None = None
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    @property
    def early_ack(self) -> bool:
        """Whether webhook updates may be acknowledged before their turn finished
        (``SUPPORTBOT_EARLY_ACK``; auto = one process, i.e. SQLite)."""
        setting = self.settings.early_ack
        return setting == "on" or (setting == "auto" and not self.store.is_postgresql)

    def start_background(self) -> None:
        """Hot reload of flow files and hourly housekeeping, for as long as the app runs."""
        if self.settings.hot_reload:
            self.tasks.append(asyncio.create_task(self.registry.watch()))
        self.tasks.append(asyncio.create_task(self._housekeeping()))
        self.tasks.append(asyncio.create_task(self._watch_queues()))
        self.tasks.append(asyncio.create_task(self._sweep_abandoned()))

    async def _sweep_abandoned(self) -> None:
        """End conversations the customer walked away from (recorded for drop-off)."""
        idle_after = timedelta(minutes=self.settings.abandon_after_minutes)
        while True:
            await asyncio.sleep(SWEEP_SECONDS)
            try:
                await end_abandoned(self.store, idle_after)
            except Exception:
                log_failure(log, "abandonment sweep failed; retrying")

    async def _watch_queues(self) -> None:
        """Keep waiting customers informed (place in line, timeout apology)."""
        while True:
            await asyncio.sleep(WATCH_SECONDS)
            try:
                await update_waiting_customers(self.store, self.manager)
            except Exception:
                log_failure(log, "queue watcher failed; retrying")

    async def _housekeeping(self) -> None:
        """Forget handled update ids once platforms no longer redeliver them."""
        retention = timedelta(hours=self.settings.inbound_retention_hours)
        while True:
            try:
                pruned = await prune_inbound(self.store, retention)
                if pruned:
                    log.info("pruned %d handled update ids older than %s", pruned, retention)
            except Exception:
                log_failure(log, "housekeeping failed; retrying in %s", HOUSEKEEPING_INTERVAL)
            await asyncio.sleep(HOUSEKEEPING_INTERVAL.total_seconds())

    async def close(self) -> None:
        await self.manager.arrivals.close()  # a flood's promised answer, before the store goes
        for task in self.tasks:
            task.cancel()
        for task in self.tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if isinstance(self.actions, ActionServer):
            await self.actions.close()
        await self.store.close()


def desk_chats(settings: Settings) -> tuple[ConversationKey, ...]:
    """The agents' desk chats of the configured channels (low-score alerts go there)."""
    desks = []
    if settings.slack_bot_token and settings.slack_agent_channel:
        desks.append(ConversationKey("slack", settings.slack_agent_channel))
    if settings.telegram_bot_token and settings.telegram_agent_chat_id:
        desks.append(ConversationKey("telegram", settings.telegram_agent_chat_id))
    return tuple(desks)


def load_actions(settings: Settings) -> ActionRunner:
    """The configured rasa-sdk actions; none (every action step fails over to its
    ``on_error``) when the default example package is not there."""
    default_package = Settings.model_fields["actions_package"].default
    try:
        actions = configured_actions(
            settings.actions_package, settings.action_endpoint, settings.action_timeout
        )
    except ActionError:
        if settings.actions_package != default_package or settings.action_endpoint:
            raise
        log.warning("the example actions (%s) are not importable here; running without "
                    "custom actions", default_package)  # fmt: skip
        actions = None
    if actions is None:
        return LocalActionRunner({}, timeout=settings.action_timeout)
    log.info("custom actions: %s", actions.source)
    return actions


async def build_app(settings: Settings) -> App:
    """Load and check the flows first (refuse to start on bad files), then open storage."""
    registry = FlowRegistry.load(settings.flows_dir, settings.personas_dir)
    queues = load_queues(settings.queues_file)
    actions = load_actions(settings)
    store = await open_store(settings.database_url)
    log.info(
        "serving %d flows, %d personas; database %s",
        len(registry.catalog.flows),
        len(registry.catalog.personas),
        mask_url(settings.database_url),
    )
    rating = RatingPolicy(
        settings.rating_enabled,
        settings.rating_window_hours * 3600,
        settings.recommend_url,
        alert_desks=desk_chats(settings),
    )
    manager = ConversationManager(
        store,
        registry,
        actions,
        queues=queues,
        rating=rating,
        routing=routing_thresholds(settings),
        flood=FloodPolicy(
            settings.flood_messages, settings.flood_window_seconds, settings.flood_calm_seconds
        ),
        bursts=settings.bursts,
    )
    receipts = Receipts(store.inbox, manager.arrivals.busy, after=settings.early_ack_after_seconds)
    return App(settings, store, registry, manager, receipts, actions)


def routing_thresholds(settings: Settings) -> RoutingThresholds:
    """SUPPORTBOT_ROUTING_*: when free text is sure enough to start a flow."""
    return RoutingThresholds(
        confident=settings.routing_confident,
        gap=settings.routing_gap,
        similarity=settings.routing_similarity,
        possible=settings.routing_possible,
    )
