"""Operators sign in with argon2-hashed passwords and use bearer tokens; roles limit what they may do; every
endpoint under /api/v1 refuses the unauthenticated and the under-privileged (checked from the OpenAPI document)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from app.audit.models import AuditEntry
from app.core.db import transaction
from app.operators import service
from app.operators.models import ApiToken, Operator
from tests.deployment import token_for

PASSWORD = "correct horse battery"


def test_a_password_is_stored_as_an_argon2id_hash_and_checked(client, factory):
    with transaction(factory) as session:
        service.create(session=session, username="op.amina", password=PASSWORD, role="operator")
    with factory() as session:
        stored = session.scalars(select(Operator.password_hash)).one()
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    good = client.post("/api/v1/auth/token", data={"username": "op.amina", "password": PASSWORD})
    assert good.status_code == 200 and good.json()["token_type"] == "bearer" and good.json()["expires_in"] > 0
    for username, password in (("op.amina", "wrong password!"), ("nobody", PASSWORD)):
        bad = client.post("/api/v1/auth/token", data={"username": username, "password": password})
        assert bad.status_code == 401 and bad.headers["WWW-Authenticate"] == "Bearer"
        assert PASSWORD not in bad.text and "wrong password" not in bad.text
    with factory() as session:
        actions = session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)).all()
        stored_tokens = session.scalars(select(ApiToken.token_hash)).all()
    assert actions == ["auth.token", "auth.failed", "auth.failed"]
    assert good.json()["access_token"] not in stored_tokens  # only a keyed hash is kept


def test_weak_passwords_taken_names_and_unknown_roles_are_refused(factory):
    with transaction(factory) as session:
        service.create(session=session, username="op.amina", password=PASSWORD, role="operator")
        for username, password, role, message in (
            ("x", "short", "viewer", "at least 12"), ("op.amina", PASSWORD, "viewer", "exists"),
            ("y", PASSWORD, "god", "role must be"), ("bad name!", PASSWORD, "viewer", "username"),
        ):  # fmt: skip
            with pytest.raises(service.OperatorError, match=message):
                service.create(session=session, username=username, password=password, role=role)


def test_tokens_stop_working_when_revoked_expired_or_the_account_is_off(client, factory, vault):
    headers = token_for(client, factory, "viewer", "view.one")
    assert client.get("/api/v1/auth/me", headers=headers).json()["username"] == "view.one"
    assert client.post("/api/v1/auth/logout", headers=headers).status_code == 204
    assert client.get("/api/v1/auth/me", headers=headers).status_code == 401
    headers = token_for(client, factory, "viewer", "view.two")
    with transaction(factory) as session:
        session.scalars(select(Operator).where(Operator.username == "view.two")).one().active = False
    assert client.get("/api/v1/auth/me", headers=headers).status_code == 401
    with transaction(factory) as session:
        operator = session.scalars(select(Operator).where(Operator.username == "view.one")).one()
        token, _ = service.issue_token(session=session, vault=vault, operator=operator, lifetime=timedelta(seconds=-1))
    assert client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_an_admin_manages_operators_and_reads_the_audit_log(client, factory):
    admin = token_for(client, factory, "admin", "admin.one")
    created = client.post("/api/v1/operators", headers=admin,
                          json={"username": "op.bea", "password": PASSWORD, "role": "operator"})  # fmt: skip
    assert created.status_code == 201 and "password" not in created.text
    assert (
        client.post(
            "/api/v1/operators", headers=admin, json={"username": "op.bea", "password": PASSWORD, "role": "viewer"}
        ).status_code
        == 409
    )
    assert client.patch("/api/v1/operators/op.bea", headers=admin, json={"role": "viewer"}).json()["role"] == "viewer"
    log = client.get("/api/v1/audit", headers=admin).json()
    assert [e["action"] for e in log][:2] == ["operator.update", "operator.create"]
    assert all(e["actor"] == "admin.one" for e in log[:2])


# Roles that may use each operation; everything else under /api/v1 is for operators on duty or admins.
VIEWER_MAY = {("post", "/api/v1/auth/logout")}
OWN_AUTH = {("post", "/api/v1/auth/token"), ("post", "/api/v1/partner/reports")}  # a form, or a partner key


def operations(client) -> list[tuple[str, str]]:
    document = client.get("/openapi.json").json()
    return [(method, path) for path, item in document["paths"].items() if path.startswith("/api/v1/")
            for method in item if method in ("get", "post", "put", "patch", "delete")]  # fmt: skip


def concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "1", path)


def test_every_api_operation_refuses_a_caller_without_a_token(client):
    checked = 0
    for method, path in operations(client):
        if (method, path) in OWN_AUTH:
            continue
        answer = client.request(method, concrete(path))
        assert answer.status_code == 401, (method, path, answer.status_code)
        checked += 1
    assert checked >= 15


def test_every_api_operation_that_changes_something_refuses_a_viewer(client, factory):
    viewer = token_for(client, factory, "viewer")
    checked = 0
    for method, path in operations(client):
        if method == "get" or (method, path) in VIEWER_MAY | OWN_AUTH:
            continue
        answer = client.request(method, concrete(path), headers=viewer, json={})
        assert answer.status_code == 403, (method, path, answer.status_code)
        checked += 1
    assert checked >= 10


def test_admin_only_operations_refuse_an_operator(client, factory):
    operator = token_for(client, factory, "operator")
    for method, path in (("post", "/api/v1/units"), ("put", "/api/v1/units/1"), ("delete", "/api/v1/units/1"),
                         ("put", "/api/v1/zones"), ("put", "/api/v1/roads"), ("post", "/api/v1/operators"),
                         ("get", "/api/v1/audit"), ("get", "/api/v1/operators")):  # fmt: skip
        assert client.request(method, path, headers=operator, json={}).status_code == 403, (method, path)
