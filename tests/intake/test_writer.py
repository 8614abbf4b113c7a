"""The inbox writer's wait for more rows under load: it goes on while rows keep coming, never past its limit."""

from __future__ import annotations

import threading
import time

from app.intake.writer import InboxWriter, PendingWrite


def idle_writer(linger: float) -> InboxWriter:
    """A writer whose thread is not started: only its queue and its wait are used."""
    return InboxWriter(factory=None, on_failure=lambda _batch, _exc: None, linger=linger)  # type: ignore[arg-type]


def test_the_wait_ends_after_one_look_when_no_row_comes():
    writer = idle_writer(linger=0.5)
    started = time.monotonic()
    writer._wait_for_more()
    assert time.monotonic() - started < 0.25  # one 5 ms look, not the half second allowed


def test_the_wait_goes_on_while_rows_keep_coming_but_not_past_its_limit():
    writer = idle_writer(linger=0.1)
    stop = threading.Event()

    def feed() -> None:
        while not stop.is_set():
            writer._queue.put(PendingWrite({}, check_conflict=False))
            time.sleep(0.001)

    feeder = threading.Thread(target=feed)
    feeder.start()
    try:
        started = time.monotonic()
        writer._wait_for_more()
        waited = time.monotonic() - started
    finally:
        stop.set()
        feeder.join()
    assert 0.09 <= waited < 0.6


def test_the_wait_ends_once_a_batch_is_full():
    writer = idle_writer(linger=0.5)
    for _ in range(writer._max_batch):
        writer._queue.put(PendingWrite({}, check_conflict=False))
    started = time.monotonic()
    writer._wait_for_more()
    assert time.monotonic() - started < 0.25
