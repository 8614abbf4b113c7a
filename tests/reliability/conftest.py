"""Fixtures of the reliability tests: a demo database, the fake Twilio, a throwaway PostgreSQL cluster."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.reliability import harness, pgcluster


@pytest.fixture
def fake_twilio(twilio_api) -> Iterator:
    """The session's fake Twilio API, emptied before and after the test."""
    twilio_api.fake.clear()
    yield twilio_api
    twilio_api.fake.clear()


@pytest.fixture
def demo_database(make_database) -> str:
    """A fresh migrated database of the chosen backend holding the demo region and deployment."""
    url = make_database()
    harness.load_demo(url)
    return url


@pytest.fixture
def postgres_only(backend) -> None:
    if backend != "postgresql":
        pytest.skip("needs PostgreSQL: SQLite is one file with one writer (run with KENGELE_TEST_DATABASE=postgresql)")


@pytest.fixture
def throwaway_postgres(postgres_only) -> Iterator[pgcluster.Cluster]:
    """A PostgreSQL cluster of this test's own, on a free port, that it may stop: never the shared server."""
    reason = pgcluster.problem()
    if reason:
        pytest.skip(f"cannot make a throwaway PostgreSQL cluster: {reason}")
    with pgcluster.throwaway_cluster() as cluster:
        yield cluster


def report(name: str, result: harness.Audit) -> None:
    """Print the run's counts (seen with -s) and its problems, if any."""
    print(f"\n{harness.summary_line(name, result)}")
    print(f"{name} kills: {json.dumps(result.counts.get('kills', []))}")
    for problem in result.problems:
        print(f"{name} PROBLEM: {problem}")
