"""Copies of table rows into the plain records of :mod:`storage.records`.

They read attributes only, so they take ORM rows and Core result rows alike. Copies
(``deepcopy`` of the JSON columns): a record never shares state with a row.
"""

from __future__ import annotations

import copy
from typing import Any, cast

from sqlalchemy.engine import Row

from storage.records import ConversationRecord, CustomerRecord, Direction, TranscriptEntry
from storage.tables import ConversationRow, CustomerRow, TranscriptEntryRow


def row_id(value: int | None) -> int:
    if value is None:  # pragma: no cover - rows are flushed before records are built
        raise RuntimeError("row has no id; it was not flushed")
    return value


def customer_record(row: CustomerRow | Row[Any]) -> CustomerRecord:
    return CustomerRecord(
        id=row.id,
        channel=row.channel,
        user_id=row.user_id,
        first_name=row.first_name,
        last_name=row.last_name,
        language=row.language,
        persona=row.persona,
        profile=copy.deepcopy(row.profile),
        created_at=row.created_at,
        last_seen_at=row.last_seen_at,
        last_conversation_id=row.last_conversation_id,
    )


def conversation_record(row: ConversationRow | Row[Any]) -> ConversationRecord:
    return ConversationRecord(
        id=row_id(row.id),
        chat_key=row.chat_key,
        customer_id=row.customer_id,
        status=row.status,
        flow_id=row.flow_id,
        flow_version=row.flow_version,
        step_id=row.step_id,
        state=copy.deepcopy(row.state),
        started_at=row.started_at,
        updated_at=row.updated_at,
        ended_at=row.ended_at,
        outcome=row.outcome,
    )


def entry_record(row: TranscriptEntryRow | Row[Any]) -> TranscriptEntry:
    return TranscriptEntry(
        direction=cast(Direction, row.direction),
        kind=row.kind,
        text=row.text,
        data=copy.deepcopy(row.data),
        created_at=row.created_at,
        id=row.id,
        conversation_id=row.conversation_id,
    )
