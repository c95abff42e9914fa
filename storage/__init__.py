"""Persistence for supportbot. Never imports ``bot``: it stores plain records."""

from storage.records import ConversationRecord, CustomerRecord, TranscriptEntry
from storage.sql import SqlStore, mask_url, open_store
from storage.store import Store, Turn

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
