"""Inbox rows: idempotent store, claim for processing, retry bookkeeping. Flushes only; callers commit."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection, Dialect, func, select
from sqlalchemy.orm import Session

from app.core.db import insert_ignore
from app.intake.models import InboundMessage
from app.reporters.models import Reporter

# The columns an accepted message fills; the rest (id, processed_at, last_error) start empty.
INBOX_COLUMNS = (
    "source", "external_id", "payload_encrypted", "payload_digest", "sender_hash", "receipt_ref",
    "received_at", "spooled", "exercise", "attempts", "next_attempt_at",
)  # fmt: skip


def store(*, session: Session, values: dict[str, Any]) -> bool:
    """Insert the inbox row unless (source, external_id) exists; return True when it was new."""
    return insert_ignore(session, InboundMessage, values, conflict=["source", "external_id"])


def insert_batch(*, connection: Connection, rows: list[dict[str, Any]]) -> set[tuple[str, str]]:
    """Insert inbox rows in one INSERT … ON CONFLICT DO NOTHING RETURNING; return the (source, external_id) created."""
    # The group-commit writer's statement, as plain SQL on the transaction's connection: SQLAlchemy's compiled
    # insert costs more per batch than the database takes to run it. Values go through each column's own bind
    # processor, so they are stored exactly as the ORM stores them.
    if not rows:
        return set()
    dialect = connection.dialect
    binders = _bind_processors(dialect)
    params: list[Any] = []
    for row in rows:
        bound: dict[tuple[int, type], Any] = {}  # received_at is next_attempt_at: format that timestamp once
        for name, kind, bind in binders:
            value = row[name]
            if bind is None:
                params.append(value)
            else:
                key = (id(value), kind)
                if key not in bound:
                    bound[key] = bind(value)
                params.append(bound[key])
    # One statement per batch size: psycopg prepares each after a few runs, sqlite3 keeps it in its statement cache.
    sql = _insert_sql(dialect, len(rows))
    return {(source, external_id) for source, external_id in connection.exec_driver_sql(sql, tuple(params))}


def reporters_by_hash(*, connection: Connection, hashes: Iterable[str]) -> dict[str, tuple[str | None, str]]:
    """Language and kind of the known reporters among these identity hashes."""
    wanted = tuple(set(hashes))
    if not wanted:
        return {}
    rows = connection.exec_driver_sql(_reporters_sql(connection.dialect, len(wanted)), wanted)
    return {identity_hash: (language, kind) for identity_hash, language, kind in rows}


@lru_cache(maxsize=8)
def _bind_processors(dialect: Dialect) -> tuple[tuple[str, type, Callable[[Any], Any] | None], ...]:
    """Each column's name, type class and bind processor for this dialect (None: the driver takes the value)."""
    table = InboundMessage.__table__
    types = [(name, table.c[name].type) for name in INBOX_COLUMNS]
    return tuple((name, type(kind), kind.dialect_impl(dialect).bind_processor(dialect)) for name, kind in types)


def _placeholder(dialect: Dialect) -> str:
    return "?" if dialect.paramstyle == "qmark" else "%s"


@lru_cache(maxsize=512)
def _insert_sql(dialect: Dialect, count: int) -> str:
    quote = dialect.identifier_preparer.quote
    table = InboundMessage.__table__
    one = "(" + ", ".join([_placeholder(dialect)] * len(INBOX_COLUMNS)) + ")"
    # Identifiers from the table definition, every value a bound parameter: nothing from a request is in the SQL.
    columns = ", ".join(quote(name) for name in INBOX_COLUMNS)
    key = f"{quote('source')}, {quote('external_id')}"
    values = ", ".join([one] * count)
    insert = f"INSERT INTO {quote(table.name)} ({columns}) VALUES {values}"  # noqa: S608
    return f"{insert} ON CONFLICT ({key}) DO NOTHING RETURNING {key}"


@lru_cache(maxsize=512)
def _reporters_sql(dialect: Dialect, count: int) -> str:
    quote = dialect.identifier_preparer.quote
    table = Reporter.__table__
    columns = ", ".join(quote(table.c[name].name) for name in ("identity_hash", "language", "kind"))
    wanted = ", ".join([_placeholder(dialect)] * count)
    return f"SELECT {columns} FROM {quote(table.name)} WHERE {quote('identity_hash')} IN ({wanted})"  # noqa: S608


def stored_digest(*, connection: Connection, source: str, external_id: str) -> str | None:
    """The payload digest stored under the provider's id, or None when there is no such row."""
    query = select(InboundMessage.payload_digest).where(
        InboundMessage.source == source, InboundMessage.external_id == external_id
    )
    return connection.execute(query).scalar_one_or_none()


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


def oldest_due(*, session: Session, now: datetime) -> datetime | None:
    """When the longest-waiting unprocessed row fell due; None when no row is due."""
    query = select(func.min(InboundMessage.next_attempt_at)).where(
        InboundMessage.processed_at.is_(None), InboundMessage.next_attempt_at <= now
    )
    return session.scalar(query)


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
