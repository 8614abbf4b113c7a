"""The inbox writer: an event loop's rows of one turn go to the database together, each row once, nothing left."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import event, func, select

from app.core.clock import utcnow
from app.intake.models import InboundMessage
from app.intake.writer import MAX_ROWS_PER_STATEMENT, InboxWriter, StoreResult


def _row(now, sid: str | None = None) -> dict:
    return {
        "source": "twilio_sms", "external_id": sid or "SM" + uuid.uuid4().hex, "payload_encrypted": "x",
        "payload_digest": "d", "sender_hash": None, "receipt_ref": "ABC123", "received_at": now, "spooled": False,
        "exercise": False, "attempts": 0, "next_attempt_at": now,
    }  # fmt: skip


@pytest.fixture
def engine(engine, factory):
    """The shared engine, emptied after the test as `factory` is: the writer owns its transactions."""
    return engine


@pytest.fixture
def commits(engine) -> Iterator[list[int]]:
    """One entry per transaction committed on the engine while the test runs."""
    counted: list[int] = []

    def count(_connection) -> None:
        counted.append(1)

    event.listen(engine, "commit", count)
    yield counted
    event.remove(engine, "commit", count)


def _stored(engine) -> int:
    with engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(InboundMessage)).scalar_one()


def run_on_own_loop(coroutine):
    """Run a coroutine on a new event loop in its own thread (Playwright keeps one running in the main thread)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def _failed(_batch, exc):
    raise AssertionError(f"the database did not fail, yet the batch was spooled ({type(exc).__name__})")


async def _submit_in_one_turn(writer: InboxWriter, rows: list[dict]) -> list[StoreResult]:
    waiters = []
    for row in rows:
        waiters.append(writer.submit_async(row))
        # Hands the interpreter to the writer thread without ending the loop's turn: a writer that took rows as
        # they came would start its transaction here.
        time.sleep(0.002)
    return await asyncio.gather(*waiters)


def test_the_rows_of_one_turn_are_committed_together(engine, commits):
    writer = InboxWriter(engine, on_failure=_failed)
    try:
        results = run_on_own_loop(_submit_in_one_turn(writer, [_row(utcnow()) for _ in range(10)]))
    finally:
        writer.stop()
    assert [result.created for result in results] == [True] * 10
    assert _stored(engine) == 10
    assert len(commits) == 1


def test_a_turn_larger_than_one_statement_is_stored_whole_and_a_repeated_id_once(engine):
    now = utcnow()
    rows = [_row(now) for _ in range(2 * MAX_ROWS_PER_STATEMENT + 7)]
    rows.append(_row(now, sid=rows[-1]["external_id"]))  # Twilio's retry, in the same turn as the original

    async def one_turn() -> list[StoreResult]:
        return await asyncio.gather(*[writer.submit_async(row) for row in rows])

    writer = InboxWriter(engine, on_failure=_failed)
    try:
        results = run_on_own_loop(one_turn())
    finally:
        writer.stop()
    assert [result.created for result in results] == [True] * (len(rows) - 1) + [False]
    assert _stored(engine) == len(rows) - 1


def test_rows_queued_from_threads_and_loops_are_all_written_before_the_writer_stops(engine):
    writer = InboxWriter(engine, on_failure=_failed)
    futures = [writer.submit(_row(utcnow())) for _ in range(5)]

    async def from_a_loop() -> list[StoreResult]:
        return await asyncio.gather(*[writer.submit_async(_row(utcnow())) for _ in range(5)])

    results = run_on_own_loop(from_a_loop())
    writer.stop()
    assert all(future.result(timeout=5).created for future in futures) and all(r.created for r in results)
    assert _stored(engine) == 10


@pytest.fixture
def checkouts(engine) -> Iterator[list[int]]:
    """One entry per connection taken from the engine's pool while the test runs."""
    counted: list[int] = []

    def count(*_args) -> None:
        counted.append(1)

    event.listen(engine, "checkout", count)
    yield counted
    event.remove(engine, "checkout", count)


def test_the_writer_keeps_its_connection_between_batches(engine, checkouts):
    writer = InboxWriter(engine, on_failure=_failed)
    try:
        results = [writer.submit(_row(utcnow())).result(timeout=10) for _ in range(3)]
    finally:
        writer.stop()
    assert [result.created for result in results] == [True] * 3
    assert len(checkouts) == 1  # three transactions, one connection: no pool round trip (nor pre-ping) per batch


def test_a_connection_the_database_dropped_is_replaced_and_the_batch_still_stored(engine, checkouts):
    writer = InboxWriter(engine, on_failure=_failed)
    try:
        assert writer.submit(_row(utcnow())).result(timeout=10).created
        writer._connection.connection.dbapi_connection.close()  # what a database restart does to an idle connection
        second = writer.submit(_row(utcnow())).result(timeout=10)
    finally:
        writer.stop()
    assert second.created and not second.spooled
    assert len(checkouts) == 2  # the dropped one, and the one the batch was stored on
    assert _stored(engine) == 2


def test_an_idle_writer_gives_its_connection_back_to_the_pool(engine, checkouts):
    writer = InboxWriter(engine, on_failure=_failed, idle_seconds=0.05)
    try:
        assert writer.submit(_row(utcnow())).result(timeout=10).created
        deadline = time.monotonic() + 5
        while writer._connection is not None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert writer._connection is None  # a writer nobody closed (a test's, a stopped app's) holds no connection
        assert writer.submit(_row(utcnow())).result(timeout=10).created
    finally:
        writer.stop()
    assert len(checkouts) == 2
