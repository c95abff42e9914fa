"""Prometheus metrics, served at ``GET /metrics``. Labels never carry customer data."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

UPDATES_IN = Counter(
    "supportbot_updates_in_total",
    "Customer updates handed to the conversation manager",
    ["channel"],
)
MESSAGES_OUT = Counter(
    "supportbot_messages_out_total", "Outbox deliveries by outcome", ["channel", "outcome"]
)
TURN_SECONDS = Histogram(
    "supportbot_turn_seconds",
    "Time to handle one customer update (lock, store, engine, actions)",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
OUTBOX_ROWS = Gauge("supportbot_outbox_rows", "Outbox rows by status", ["status"])
ERRORS = Counter("supportbot_errors_total", "Errors by where they happened", ["where"])
