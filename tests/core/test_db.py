"""SQLite writers in one process take turns in arrival order, so a busy loop cannot starve the others."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import text

from app.core.config import Settings
from app.core.db import WriterQueue, make_engine


def test_a_released_turn_goes_to_the_longest_waiter_not_back_to_the_releaser():
    queue = WriterQueue()
    assert queue.acquire(1)
    order: list[str] = []
    waiters = []
    for name in ("first", "second"):
        thread = threading.Thread(target=lambda n=name: queue.acquire(5) and order.append(n))
        thread.start()
        waiters.append(thread)
        time.sleep(0.05)  # "first" queues before "second"
    queue.release()
    assert not queue.acquire(0.1)  # the turn was handed to "first": the releaser cannot barge back in
    waiters[0].join(2)
    assert order == ["first"]
    queue.release()
    waiters[1].join(2)
    assert order == ["first", "second"]
    queue.release()
    assert queue.acquire(0.1)  # nobody waits: free again


def test_a_waiter_that_times_out_leaves_the_queue():
    queue = WriterQueue()
    assert queue.acquire(1)
    assert not queue.acquire(0.05)
    queue.release()
    assert queue.acquire(0.1)  # the abandoned wait was not handed the turn


def test_a_writer_gets_in_while_another_thread_writes_back_to_back(tmp_path, backend):
    if backend != "sqlite":
        pytest.skip("SQLite's single writer")
    engine = make_engine(Settings(_env_file=None, database_url=f"sqlite:///{tmp_path / 'q.db'}"))
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE t (n INTEGER)"))
    stop = threading.Event()

    def busy_writer() -> None:
        while not stop.is_set():
            with engine.begin() as connection:  # commits and begins again at once, as the inbox worker does
                connection.execute(text("INSERT INTO t VALUES (1)"))
                time.sleep(0.02)

    thread = threading.Thread(target=busy_writer)
    thread.start()
    try:
        time.sleep(0.1)
        waits = []
        for _ in range(5):
            started = time.monotonic()
            with engine.begin() as connection:
                connection.execute(text("INSERT INTO t VALUES (2)"))
            waits.append(time.monotonic() - started)
    finally:
        stop.set()
        thread.join(5)
        engine.dispose()
    # Each turn is one 20 ms transaction of the busy writer at most; without the queue the sleeping busy handler
    # lost to the busy writer for long stretches.
    assert max(waits) < 0.5, waits
