"""Prometheus metrics. Labels are channels and outcomes only: never a number, a body or a reference."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

MESSAGES_ACCEPTED = Counter(
    "kengele_messages_accepted_total", "Inbound messages accepted (stored or spooled)", ["channel"]
)
MESSAGES_DUPLICATE = Counter(
    "kengele_messages_duplicate_total",
    "Inbound messages already accepted under the same provider id",
    ["channel"],
)
SIGNATURES_REJECTED = Counter(
    "kengele_signatures_rejected_total",
    "Webhook requests refused for a missing or wrong signature",
    ["channel"],
)
MESSAGES_SPOOLED = Counter(
    "kengele_messages_spooled_total",
    "Messages written to the disk spool because the database failed",
    ["channel"],
)
SPOOL_REPLAYED = Counter("kengele_spool_replayed_total", "Spooled messages written back to the database")
WORK_OVERDUE = Gauge(
    "kengele_work_overdue_seconds",
    "How long the oldest due work of a worker role has waited (0: none due); read from the database at scrape",
    ["role"],
)
SPOOL_DEPTH = Gauge("kengele_spool_depth", "Messages in the disk spool waiting for the database")
INBOX_PROCESSED = Counter("kengele_inbox_processed_total", "Inbox rows turned into reports")
INBOX_FAILED = Counter("kengele_inbox_failed_total", "Inbox processing attempts that failed and will retry")
INTAKE_LATENCY = Histogram(
    "kengele_intake_latency_seconds",
    "Time to answer an intake webhook",
    ["channel"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 15),
)
