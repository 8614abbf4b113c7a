"""Inbox rows: idempotent store, claim for processing, retry bookkeeping. Flushes only; callers commit."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core.db import insert_ignore, insert_ignore_many
from app.intake.models import InboundMessage


def store(*, session: Session, values: dict[str, Any]) -> bool:
    """Insert the inbox row unless (source, external_id) exists; return True when it was new."""
    return insert_ignore(session, InboundMessage, values, conflict=["source", "external_id"])


def store_many(*, session: Session, rows: list[dict[str, Any]]) -> set[tuple[str, str]]:
    """Insert many inbox rows in one statement, skipping existing ones; return the (source, external_id) created."""
    return insert_ignore_many(session, InboundMessage, rows, conflict=["source", "external_id"])


def get_by_external_id(*, session: Session, source: str, external_id: str) -> InboundMessage | None:
    """Get an inbox row by the provider's id."""
    query = select(InboundMessage).where(InboundMessage.source == source, InboundMessage.external_id == external_id)
    return session.scalars(query).one_or_none()


def claim_due(*, session: Session, now: datetime, limit: int) -> list[InboundMessage]:
    """Lock up to `limit` unprocessed rows that are due, skipping rows another worker holds."""
    query = (
        select(InboundMessage)
        .where(InboundMessage.processed_at.is_(None), InboundMessage.next_attempt_at <= now)
        .order_by(InboundMessage.next_attempt_at, InboundMessage.id)
        .limit(limit)
        # SKIP LOCKED: concurrent workers on PostgreSQL take disjoint rows; SQLite has one writer anyway.
        .with_for_update(skip_locked=True)
    )
    return list(session.scalars(query))


def mark_processed(row: InboundMessage, *, now: datetime) -> None:
    """Record that the row became a report."""
    row.processed_at = now
    row.last_error = None


def schedule_retry(row: InboundMessage, *, error: str, now: datetime, schedule: list[int]) -> None:
    """Count a failed attempt and set the next one from the schedule (its last step repeats forever)."""
    row.attempts += 1
    delay = schedule[min(row.attempts - 1, len(schedule) - 1)]
    row.next_attempt_at = now + timedelta(seconds=delay)
    row.last_error = error[:200]
