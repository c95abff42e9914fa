"""Composition root: builds the store, the flow registry and the manager. Nothing else."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from bot.actions import LocalActionRunner
from bot.conversation.manager import ConversationManager
from bot.demo_actions import DEMO_ACTIONS
from bot.engine.registry import FlowRegistry
from bot.settings import Settings
from storage.sql import SqlStore, open_store
from storage.urls import mask_url

log = logging.getLogger("supportbot")


@dataclass(slots=True)
class App:
    settings: Settings
    store: SqlStore
    registry: FlowRegistry
    manager: ConversationManager

    async def close(self) -> None:
        await self.store.close()


async def build_app(settings: Settings) -> App:
    """Load and check the flows first (refuse to start on bad files), then open storage."""
    registry = FlowRegistry.load(settings.flows_dir, settings.personas_dir)
    store = await open_store(settings.database_url)
    log.info(
        "serving %d flows, %d personas; database %s",
        len(registry.catalog.flows),
        len(registry.catalog.personas),
        mask_url(settings.database_url),
    )
    actions = LocalActionRunner(DEMO_ACTIONS, timeout=settings.action_timeout)
    manager = ConversationManager(store, registry, actions)
    return App(settings, store, registry, manager)
