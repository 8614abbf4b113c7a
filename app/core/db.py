"""Engine, session factory, declarative base and the portable idempotent insert."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, ClassVar

from sqlalchemy import DateTime, Engine, MetaData, Table, create_engine, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

from app.core.config import Settings

# The largest id a row can have on both databases (a PostgreSQL INTEGER): a larger one names no row, and the
# drivers refuse to even send it (PostgreSQL: integer out of range; SQLite: beyond 64 bits), which would be a 500.
MAX_ROW_ID = 2**31 - 1

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend (SQLite stores naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use app.core.clock.utcnow()")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime}


class WriterQueue:
    """First come, first served among one process's SQLite writers: a released turn goes to the longest waiter."""

    # SQLite's busy handler retries a locked BEGIN by sleeping (1, 2, 5 … 100 ms), so a thread that commits and
    # begins again at once wins every time: in a flood the inbox worker starved the outbox senders, and alerts
    # waited seconds to leave. Other processes still queue on SQLite's own lock.

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._held = False
        self._waiters: deque[threading.Event] = deque()

    def acquire(self, timeout: float) -> bool:
        """Wait for this thread's turn; False after `timeout` seconds (SQLite's own lock still guards the write)."""
        with self._mutex:
            if not self._held:
                self._held = True
                return True
            turn = threading.Event()
            self._waiters.append(turn)
        if turn.wait(timeout):
            return True
        with self._mutex:
            if turn.is_set():  # handed over while timing out
                return True
            self._waiters.remove(turn)
            return False

    def release(self) -> None:
        """End this turn: hand it straight to the first waiter, so the releasing thread cannot take it back."""
        with self._mutex:
            if self._waiters:
                self._waiters.popleft().set()
            else:
                self._held = False


_HOLDS_TURN = "kengele_writer_turn"


def _configure_sqlite(engine: Engine, busy_timeout_ms: int) -> None:
    """WAL, fsync on commit, foreign keys, and BEGIN IMMEDIATE so writers queue instead of deadlocking."""
    writers = WriterQueue()

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy emit BEGIN itself (pysqlite's implicit transactions are unreliable).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        # FULL: a commit is on disk before we answer the provider, even across power loss.
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.info[_HOLDS_TURN] = writers.acquire(busy_timeout_ms / 1000)
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    @event.listens_for(engine, "commit")
    @event.listens_for(engine, "rollback")
    def _on_end(connection: Any) -> None:
        _end_turn(connection.info)

    @event.listens_for(engine.pool, "checkin")
    def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
        _end_turn(record.info)  # a connection invalidated mid-transaction never saw its rollback

    def _end_turn(info: dict[str, Any]) -> None:
        if info.pop(_HOLDS_TURN, False):
            writers.release()


def make_engine(settings: Settings) -> Engine:
    """Create the engine for the configured database; parameters never appear in error messages."""
    if settings.is_sqlite:
        engine = create_engine(
            settings.database_url,
            hide_parameters=True,
            connect_args={"check_same_thread": False, "timeout": settings.sqlite_busy_timeout_ms / 1000},
        )
        _configure_sqlite(engine, settings.sqlite_busy_timeout_ms)
        return engine
    return create_engine(
        settings.database_url,
        hide_parameters=True,
        pool_pre_ping=True,
        pool_size=10,
        max_overflow=10,
        pool_timeout=5,
        connect_args={"connect_timeout": 5},
    )


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded values after commit (objects are read after the transaction)."""
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """Own one transaction: commit on success, roll back on any error."""
    with factory() as session, session.begin():
        yield session


def hold_loaded_objects(session: Session) -> Session:
    """Keep every object the session loads or adds alive until the session ends (one worker batch)."""
    # The identity map holds objects weakly: a reporter or incident a step dropped is gone by the next step, and
    # session.get() would SELECT it again. SQLAlchemy's "strong referencing" recipe; a batch is small.
    held = session.info.setdefault("held_objects", [])

    def hold(_session: Session, instance: Any) -> None:
        held.append(instance)

    for name in ("pending_to_persistent", "loaded_as_persistent", "detached_to_persistent"):
        event.listen(session, name, hold)
    return session


@lru_cache(maxsize=64)
def _insert_ignore_statement(dialect: str, table: Table, conflict: tuple[str, ...], returning: tuple[str, ...]) -> Any:
    # Built once per table: constructing and cache-keying a statement per row costs more than running it.
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(table).on_conflict_do_nothing(index_elements=list(conflict))
    return statement.returning(*(table.c[name] for name in returning))


def insert_ignore(session: Session, model: Any, values: dict[str, Any], conflict: list[str]) -> bool:
    """INSERT … ON CONFLICT DO NOTHING; return True when a row was created."""
    return bool(insert_ignore_many(session, model, [values], conflict))


def insert_ignore_many(
    session: Session, model: Any, rows: list[dict[str, Any]], conflict: list[str]
) -> set[tuple[Any, ...]]:
    """INSERT … ON CONFLICT DO NOTHING for many rows in one statement; return the conflict keys it created."""
    if not rows:
        return set()
    key = tuple(conflict)
    statement = _insert_ignore_statement(session.get_bind().dialect.name, model.__table__, key, key)
    # RETURNING, not rowcount: drivers report rowcount -1 for INSERT … RETURNING.
    result = session.connection().execute(statement, rows)
    return {tuple(row) for row in result}
