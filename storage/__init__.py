"""Persistence for supportbot. Never imports ``bot``: it stores plain records."""

from storage.records import ConversationRecord, CustomerRecord, TranscriptEntry
from storage.sql import SqlStore, open_store
from storage.store import Store, Turn
from storage.urls import mask_url

__all__ = [
    "ConversationRecord",
    "CustomerRecord",
    "SqlStore",
    "Store",
    "TranscriptEntry",
    "Turn",
    "mask_url",
    "open_store",
]
