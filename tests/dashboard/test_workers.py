"""GET /api/v1/dashboard/workers: each role's overdue work, and the roles late enough for the page to say so."""

from __future__ import annotations

from datetime import timedelta

from app.core.clock import utcnow
from app.core.db import transaction
from app.dashboard.router import LATE_AFTER_SECONDS
from app.escalation.models import Timer
from tests.deployment import token_for


def _deadline(client, key: str, seconds_ago: float) -> None:
    with transaction(client.app.state.sessionmaker) as session:
        session.add(Timer(key=key, kind="ack_deadline", subject_id=1, due_at=utcnow() - timedelta(seconds=seconds_ago)))


def test_a_deadline_just_due_is_not_late_and_one_past_the_limit_is(client):
    headers = token_for(client, client.app.state.sessionmaker, "viewer")
    _deadline(client, "test:just-due", seconds_ago=5)
    answer = client.get("/api/v1/dashboard/workers", headers=headers).json()
    assert answer["late"] == [] and 5 <= answer["overdue_seconds"]["timers"] < LATE_AFTER_SECONDS

    _deadline(client, "test:late", seconds_ago=LATE_AFTER_SECONDS + 30)
    answer = client.get("/api/v1/dashboard/workers", headers=headers).json()
    assert answer["late"] == ["timers"]
    assert answer["overdue_seconds"]["timers"] >= LATE_AFTER_SECONDS + 30
    assert answer["overdue_seconds"]["inbox"] == answer["overdue_seconds"]["outbox"] == 0.0


def test_the_status_needs_a_signed_in_viewer(client):
    assert client.get("/api/v1/dashboard/workers").status_code == 401
