"""Sign-in throttling: five wrong passwords for a name, or twenty from one address, and sign-in waits (429)."""

from __future__ import annotations

from datetime import timedelta

from app.audit.models import AuditEntry
from app.core.db import transaction
from tests.dashboard.conftest import PASSWORD, make_operator


def token(client, username: str, password: str):
    return client.post("/api/v1/auth/token", data={"username": username, "password": password})


def session_sign_in(client, username: str, password: str):
    return client.post("/api/v1/auth/session", data={"username": username, "password": password})


def test_five_wrong_passwords_lock_the_name_even_against_the_right_one_until_the_window_passes(client, factory):
    make_operator(factory, "amina", "operator")
    assert [token(client, "amina", f"guess-{i}").status_code for i in range(5)] == [401] * 5
    locked = token(client, "amina", PASSWORD)
    assert locked.status_code == 429 and 1 <= int(locked.headers["Retry-After"]) <= 15 * 60
    assert session_sign_in(client, "amina", PASSWORD).status_code == 429, "the dashboard's sign-in shares the count"
    assert token(client, "other.operator", "whatever").status_code == 401, "other names are not locked"
    with transaction(factory) as session:  # fifteen minutes pass
        for entry in session.query(AuditEntry):
            entry.at -= timedelta(minutes=16)
    assert token(client, "amina", PASSWORD).status_code == 200


def test_one_address_trying_many_names_is_throttled(client, factory):
    make_operator(factory, "ben", "viewer")
    answers = [token(client, f"user{i}", "guess").status_code for i in range(20)]
    assert answers == [401] * 20
    assert token(client, "ben", PASSWORD).status_code == 429, "spraying passwords over names from one address"


def test_throttled_attempts_are_audited_apart_from_failures(client, factory):
    make_operator(factory, "chloe", "viewer")
    for _ in range(6):
        token(client, "chloe", "nope")
    with factory() as session:
        actions = [a for (a,) in session.query(AuditEntry.action).filter(AuditEntry.actor == "chloe")]
    assert actions.count("auth.failed") == 5 and actions.count("auth.throttled") == 1
