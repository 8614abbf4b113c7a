"""The worker's loops: how they pace themselves, and how many reports each transaction takes."""

from __future__ import annotations

import itertools
import threading
import time

import pytest

from app.core.config import Settings
from app.worker import BackgroundLoop


@pytest.mark.parametrize(
    ("url", "setting", "expected"),
    [
        ("sqlite:///kengele.db", None, 10),
        ("postgresql+psycopg://postgres@127.0.0.1:5432/kengele", None, 1),
        ("postgresql+psycopg://postgres@127.0.0.1:5432/kengele", 25, 25),
    ],
)
def test_batch_size_defaults_by_database_and_a_setting_wins(url, setting, expected):
    settings = Settings(_env_file=None, database_url=url, worker_batch_size=setting)
    assert settings.resolved_worker_batch_size == expected


def test_a_batch_size_below_one_is_refused():
    with pytest.raises(ValueError, match="worker_batch_size"):
        Settings(_env_file=None, worker_batch_size=0)


def run_busy_loop(busy_seconds: float, steps: int = 12, step_seconds: float = 0.01) -> list[float]:
    """Run a loop whose step always has more work, for `steps` steps; the gaps between steps, in seconds."""
    started: list[float] = []
    done = threading.Event()

    def step() -> bool:
        started.append(time.monotonic())
        time.sleep(step_seconds)
        if len(started) >= steps:
            done.set()
        return True

    loop = BackgroundLoop("test", step, interval=1.0, yield_seconds=0.2, busy_seconds=busy_seconds)
    loop.start()
    assert done.wait(10)
    loop.stop()
    return [b - a - step_seconds for a, b in itertools.pairwise(started[:steps])]


def test_the_embedded_worker_rests_after_every_busy_step_by_default():
    gaps = run_busy_loop(busy_seconds=0.0, steps=4)
    assert all(gap >= 0.15 for gap in gaps), gaps


def test_the_embedded_worker_rests_only_once_it_has_been_busy_long_enough():
    gaps = run_busy_loop(busy_seconds=0.05)
    rests = [gap for gap in gaps if gap >= 0.15]
    # Steps of 10 ms: a rest every ~5 steps, not after each one.
    assert 1 <= len(rests) <= 4, gaps
    assert sum(gap < 0.05 for gap in gaps) >= 6, gaps
