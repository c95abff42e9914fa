"""Report figures against a hand-computed fixture of 50 conversations (SQLite and PostgreSQL).

The fixture is written straight into the tables as a running bot would have left them,
in eight groups whose figures are easy to count by hand:

====  ==  =======================  ========  =======  ==================================
grp   n   flow / variant           channel   day      how it ended
====  ==  =======================  ========  =======  ==================================
A     10  where_is_my_order/self   telegram  Nov 2    resolved, rated 5
B      6  where_is_my_order/guided slack     Nov 2    resolved, rated 4
C      4  where_is_my_order/guided slack     Nov 3    abandoned at ask_number
D      5  reset_password/self      telegram  Nov 3    resolved, rated 2 with a comment
E      5  reset_password/self      telegram  Nov 3    resolved, rating asked, no answer
F      8  where_is_my_order/self   console   Nov 2    person (alice; waits 1..8 min,
                                                       5 min handling), rated 3 (4) / 1 (4)
G      6  (menu) no flow           telegram  Nov 3    person (bob; 10 min wait, 2 min
                                                       handling), rated 4
H      6  (menu) no flow           slack     Nov 2    abandoned at the menu
====  ==  =======================  ========  =======  ==================================

Expected numbers are literals computed by hand from this table (see the comments).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from bot.reports import build_report, render
from storage.reporting import load_report_facts
from storage.sql import SqlStore
from storage.tables import metadata

WIMO, RP = "where_is_my_order", "reset_password"
DAY1 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
DAY2 = datetime(2026, 11, 3, 9, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)


class _Fixture:
    def __init__(self) -> None:
        self.rows: dict[str, list[dict[str, Any]]] = {
            name: [] for name in ("customer", "conversation", "transcript_entry", "ticket",
                                  "rating")
        }  # fmt: skip
        self.next_id = 1

    def conversation(
        self,
        *,
        channel: str,
        day: datetime,
        persona: str | None,
        flow: str | None = None,
        variant: str | None = None,
        steps: tuple[str, ...] = (),
        resolved: bool = False,
        abandoned: bool = False,
        ticket: dict[str, Any] | None = None,
        asked: bool = False,
        score: int | None = None,
        comment: str | None = None,
    ) -> None:
        cid = self.next_id
        self.next_id += 1
        start = day + cid * MIN
        customer = f"{channel}:u{cid}"
        self.rows["customer"].append(
            {"id": customer, "channel": channel, "user_id": f"u{cid}", "persona": persona,
             "profile": {}, "created_at": start, "last_seen_at": start}
        )  # fmt: skip
        events: list[tuple[str, dict[str, Any]]] = []
        if flow:
            events.append(("flow_started", {"flow": flow, "variant": variant, "persona": persona}))
            events += [("step", {"flow": flow, "variant": variant, "step": s}) for s in steps]
        if ticket:
            last = steps[-1] if flow else None
            reason, queue = ticket["reason"], ticket["queue"]
            handoff = {"flow": flow, "step": last, "reason": reason, "queue": queue}
            events.append(("handoff", handoff))
        if resolved:
            events.append(("resolved", {"flow": flow, "tag": None}))
        if asked:
            events.append(("rating_asked", {}))
        if abandoned:
            status = "in_flow" if flow else "menu"
            events.append(
                ("abandoned", {"flow": flow, "variant": variant, "step": steps[-1] if flow
                               else None, "status": status})
            )  # fmt: skip
        ended = start + 30 * MIN
        self.rows["conversation"].append(
            {"id": cid, "chat_key": customer, "customer_id": customer,
             "status": "closed" if abandoned else "resolved",
             "flow_id": None if ticket and not flow else flow,
             "step_id": steps[-1] if steps else None, "state": {}, "started_at": start,
             "updated_at": ended, "ended_at": ended,
             "outcome": "abandoned" if abandoned else "resolved"}
        )  # fmt: skip
        for i, (kind, data) in enumerate(events):
            self.rows["transcript_entry"].append(
                {"conversation_id": cid, "direction": "event", "kind": kind, "text": "",
                 "data": data, "created_at": start + i * timedelta(seconds=1)}
            )  # fmt: skip
        if ticket:
            created = start + MIN
            taken = created + ticket["wait"]
            self.rows["ticket"].append(
                {"conversation_id": cid, "customer_id": customer, "chat_key": customer,
                 "queue": ticket["queue"], "status": "closed", "reason": ticket["reason"],
                 "flow_id": flow, "step_id": steps[-1] if flow else None,
                 "owner_id": f"console:{ticket['agent']}", "owner_name": ticket["agent"],
                 "resolution": "solved", "desk_refs": {}, "created_at": created,
                 "taken_at": taken, "closed_at": taken + ticket["handling"], "version": 3}
            )  # fmt: skip
        if score is not None:
            self.rows["rating"].append(
                {"conversation_id": cid, "customer_id": customer, "channel": channel,
                 "persona": persona, "flow_id": flow,
                 "step_id": steps[-1] if steps else None,
                 "agent_id": f"console:{ticket['agent']}" if ticket else None,
                 "queue": ticket["queue"] if ticket else None, "score": score,
                 "comment": comment, "created_at": start + 5 * MIN}
            )  # fmt: skip

    async def write(self, store: SqlStore) -> None:
        _, engine = store.engines
        async with engine.begin() as conn:
            for table, rows in self.rows.items():
                if rows:
                    await conn.execute(sa.insert(metadata.tables[table]), rows)


def fifty_conversations() -> _Fixture:
    f = _Fixture()
    wimo_self = ("ask_number", "lookup", "report", "done")
    wimo_guided = ("find_email", "ask_number", "report", "done")
    for _ in range(10):  # A
        f.conversation(channel="telegram", day=DAY1, persona="self_serve", flow=WIMO,
                       variant="self_serve", steps=wimo_self, resolved=True, asked=True,
                       score=5)  # fmt: skip
    for _ in range(6):  # B
        f.conversation(channel="slack", day=DAY1, persona="guided", flow=WIMO,
                       variant="guided", steps=wimo_guided, resolved=True, asked=True,
                       score=4)  # fmt: skip
    for _ in range(4):  # C
        f.conversation(channel="slack", day=DAY2, persona="guided", flow=WIMO,
                       variant="guided", steps=wimo_guided[:2], abandoned=True)  # fmt: skip
    for i in range(5):  # D
        f.conversation(channel="telegram", day=DAY2, persona="self_serve", flow=RP,
                       variant="self_serve", steps=("send_link", "done"), resolved=True,
                       asked=True, score=2, comment=f"link expired #{i}")  # fmt: skip
    for _ in range(5):  # E
        f.conversation(channel="telegram", day=DAY2, persona="self_serve", flow=RP,
                       variant="self_serve", steps=("send_link", "done"), resolved=True,
                       asked=True)  # fmt: skip
    for i in range(8):  # F
        ticket = {"reason": "order not found", "queue": "orders", "agent": "alice",
                  "wait": (i + 1) * MIN, "handling": 5 * MIN}  # fmt: skip
        f.conversation(channel="console", day=DAY1, persona="self_serve", flow=WIMO,
                       variant="self_serve", steps=("ask_number", "lookup", "person"),
                       ticket=ticket, asked=True, score=3 if i < 4 else 1)  # fmt: skip
    for _ in range(6):  # G
        ticket = {"reason": "customer asked for a person", "queue": "general", "agent": "bob",
                  "wait": 10 * MIN, "handling": 2 * MIN}  # fmt: skip
        f.conversation(channel="telegram", day=DAY2, persona=None, ticket=ticket, asked=True,
                       score=4)  # fmt: skip
    for _ in range(6):  # H
        f.conversation(channel="slack", day=DAY1, persona=None, abandoned=True)
    return f


async def seeded_report(store: SqlStore, by: str = "flow") -> Any:
    await fifty_conversations().write(store)
    facts = await load_report_facts(store)
    return build_report(facts, by)  # type: ignore[arg-type]


async def test_summary_figures(store: SqlStore) -> None:
    s = (await seeded_report(store)).summary
    assert s.conversations == 50
    assert s.rating_asked == 40  # A10 + B6 + D5 + E5 + F8 + G6
    assert s.ratings == 35  # everyone asked but E
    assert round(100 * s.csat, 1) == 62.9  # (A10 + B6 + G6) / 35 = 22/35
    assert round(s.average_score, 4) == round(124 / 35, 4)  # 50+24+10+12+4+24
    assert s.response_rate == 35 / 40
    assert (s.contained, s.containment) == (26, 0.52)  # A + B + D + E, no person
    assert (s.handoffs, s.handoff_rate) == (14, 0.28)  # F + G
    assert s.abandoned == 10  # C + H
    # waits: 60..480 s (F), 6 × 600 s (G): median = (420 + 480) / 2; p90 = 13th of 14
    assert (s.median_wait_seconds, s.p90_wait_seconds) == (450, 600)
    assert s.median_handling_seconds == 300  # 6 × 120 s, 8 × 300 s: 7th and 8th are 300


async def test_breakdown_by_flow(store: SqlStore) -> None:
    groups = dict((await seeded_report(store, "flow")).breakdown)
    assert list(groups) == ["(no flow)", RP, WIMO]
    wimo, rp, none = groups[WIMO], groups[RP], groups["(no flow)"]
    assert (wimo.conversations, wimo.ratings, wimo.contained, wimo.handoffs, wimo.abandoned) == (
        28, 24, 16, 8, 4,
    )  # fmt: skip
    assert round(100 * wimo.csat, 1) == 66.7 and wimo.average_score == 90 / 24
    assert (wimo.median_wait_seconds, wimo.p90_wait_seconds) == (270, 480)
    assert (rp.conversations, rp.ratings, rp.csat, rp.average_score, rp.response_rate) == (
        10, 5, 0.0, 2.0, 0.5,
    )  # fmt: skip
    assert (rp.containment, rp.handoff_rate, rp.median_wait_seconds) == (1.0, 0.0, None)
    assert (none.conversations, none.csat, none.handoffs, none.abandoned) == (12, 1.0, 6, 6)
    assert (none.median_wait_seconds, none.median_handling_seconds) == (600, 120)


async def test_breakdown_by_persona_channel_agent_queue_and_day(store: SqlStore) -> None:
    await fifty_conversations().write(store)
    facts = await load_report_facts(store)

    def counts(by: str) -> dict[str, tuple[int, int]]:
        report = build_report(facts, by)  # type: ignore[arg-type]
        return {name: (f.conversations, f.ratings) for name, f in report.breakdown}

    assert counts("persona") == {"(none)": (12, 6), "guided": (10, 6), "self_serve": (28, 23)}
    assert counts("channel") == {"console": (8, 8), "slack": (16, 6), "telegram": (26, 21)}
    assert counts("agent") == {"(no person)": (36, 21), "alice": (8, 8), "bob": (6, 6)}
    assert counts("queue") == {"(no handoff)": (36, 21), "general": (6, 6), "orders": (8, 8)}
    assert counts("day") == {"2026-11-02": (30, 24), "2026-11-03": (20, 11)}
    self_serve = dict(build_report(facts, "persona").breakdown)["self_serve"]
    assert round(100 * self_serve.csat, 1) == 43.5  # A10 / 23
    assert round(100 * self_serve.response_rate, 1) == 82.1  # 23 / 28


async def test_dropoff_per_flow_step(store: SqlStore) -> None:
    rows = {
        (r.flow, r.variant, r.step): (r.reached, r.abandoned, r.asked_for_person, r.low_score)
        for r in (await seeded_report(store)).dropoff
    }
    assert rows == {
        (RP, "self_serve", "send_link"): (10, 0, 0, 0),
        (RP, "self_serve", "done"): (10, 0, 0, 5),  # D's score 2
        (WIMO, "guided", "find_email"): (10, 0, 0, 0),
        (WIMO, "guided", "ask_number"): (10, 4, 0, 0),  # C abandoned here
        (WIMO, "guided", "report"): (6, 0, 0, 0),
        (WIMO, "guided", "done"): (6, 0, 0, 0),
        (WIMO, "self_serve", "ask_number"): (18, 0, 0, 0),
        (WIMO, "self_serve", "lookup"): (18, 0, 0, 0),
        (WIMO, "self_serve", "report"): (10, 0, 0, 0),
        (WIMO, "self_serve", "done"): (10, 0, 0, 0),
        (WIMO, "self_serve", "person"): (8, 0, 8, 4),  # F; four of them rated 1
    }


async def test_handoff_reasons_and_low_score_comments(store: SqlStore) -> None:
    report = await seeded_report(store)
    assert report.handoff_reasons == [("order not found", 8), ("customer asked for a person", 6)]
    newest_first = [f"link expired #{i}" for i in (4, 3, 2, 1, 0)]
    assert [c.comment for c in report.low_comments] == newest_first
    assert all(c.score == 2 and c.flow == RP for c in report.low_comments)


async def test_period_filter_and_formats(store: SqlStore) -> None:
    await fifty_conversations().write(store)
    facts = await load_report_facts(
        store, since=DAY2 - timedelta(hours=9), until=DAY2 + timedelta(days=1)
    )
    report = build_report(facts, "channel")
    assert report.summary.conversations == 20  # day 2 only: C + D + E + G
    table = render(report, "table")
    assert "Where are the problems" in table and "supportbot transcript" in table
    csv_text = render(report, "csv")
    assert csv_text.splitlines()[0].startswith("channel,conversations,csat")
    assert "telegram,16," in csv_text  # D5 + E5 + G6
    assert '"dropoff"' in render(report, "json")
