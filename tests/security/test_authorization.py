"""Authorization on every route, for every role: each route's minimum role is in MINIMUM, a caller below it is
refused (401 without credentials, 403 with a lower role) and every caller at or above it gets past the check.
A route missing from the table fails the guard test: a new route must be classified here."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

import httpx
import pytest
from fastapi.routing import iter_route_contexts
from sqlalchemy import select

from app.core.config import Settings
from app.core.db import make_sessionmaker, transaction
from app.main import create_app
from app.operators import service as operators
from app.operators.models import Operator
from tests.conftest import SECRET_KEY, TWILIO_TOKEN, _clean
from tests.live_server import served_in_thread

ANONYMOUS, VIEWER, OPERATOR, CALLBACK, ADMIN = "anonymous", "viewer", "operator", "callback", "admin"
ROLES = [ANONYMOUS, VIEWER, OPERATOR, CALLBACK, ADMIN]  # each includes the ones before it (app.operators.service)
PUBLIC = "public"  # answers without credentials, to anyone
WEBHOOK = "webhook"  # its own signature instead of a role: tests/security/test_webhook_signatures.py

MINIMUM = {
    # Probes, the OpenAPI document, the dashboard's page and files, and signing in.
    ("GET", "/"): PUBLIC,
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/readyz"): PUBLIC,
    ("GET", "/metrics"): PUBLIC,
    ("GET", "/openapi.json"): PUBLIC,
    ("GET", "/dashboard"): PUBLIC,
    ("GET", "/dashboard/static/{path:path}"): PUBLIC,
    ("POST", "/api/v1/auth/token"): PUBLIC,
    ("POST", "/api/v1/auth/session"): PUBLIC,
    ("POST", "/twilio/sms"): WEBHOOK,
    ("POST", "/twilio/voice"): WEBHOOK,
    ("POST", "/twilio/status"): WEBHOOK,
    ("POST", "/twilio/voice/gather"): WEBHOOK,
    ("POST", "/twilio/voice/confirm"): WEBHOOK,
    ("POST", "/api/v1/partner/reports"): WEBHOOK,
    # Seeing: incidents, reporters masked, units, zones, roads, rankings, CLAs, the call-back queue, exports.
    ("POST", "/api/v1/auth/logout"): VIEWER,
    ("DELETE", "/api/v1/auth/session"): VIEWER,
    ("GET", "/api/v1/auth/me"): VIEWER,
    ("GET", "/api/v1/incidents"): VIEWER,
    ("GET", "/api/v1/incidents/{ref}"): VIEWER,
    ("GET", "/api/v1/reporters"): VIEWER,
    ("GET", "/api/v1/units"): VIEWER,
    ("GET", "/api/v1/zones"): VIEWER,
    ("GET", "/api/v1/roads"): VIEWER,
    ("GET", "/api/v1/roads/closures"): VIEWER,
    ("GET", "/api/v1/routing/rank"): VIEWER,
    ("GET", "/api/v1/clas"): VIEWER,
    ("GET", "/api/v1/callbacks"): VIEWER,
    ("GET", "/api/v1/exports/incidents.geojson"): VIEWER,
    ("GET", "/api/v1/exports/incidents.csv"): VIEWER,
    ("GET", "/api/v1/exports/cap/{ref}.xml"): VIEWER,
    ("GET", "/api/v1/exports/cap.atom"): VIEWER,
    ("GET", "/api/v1/feed/stream"): VIEWER,
    ("GET", "/api/v1/dashboard/config"): VIEWER,
    ("GET", "/api/v1/dashboard/workers"): VIEWER,
    ("GET", "/api/v1/warnings"): VIEWER,
    # Acting on incidents, units' status and position, road closures.
    ("POST", "/api/v1/incidents/{ref}/acknowledge"): OPERATOR,
    ("POST", "/api/v1/incidents/{ref}/resolve"): OPERATOR,
    ("POST", "/api/v1/incidents/{ref}/merge"): OPERATOR,
    ("POST", "/api/v1/incidents/{ref}/split"): OPERATOR,
    ("POST", "/api/v1/reports/{report_id}/reject"): OPERATOR,
    ("POST", "/api/v1/incidents/{ref}/priority"): OPERATOR,
    ("POST", "/api/v1/incidents/{ref}/dispatch"): OPERATOR,
    ("POST", "/api/v1/incidents/{ref}/notes"): OPERATOR,
    ("POST", "/api/v1/incidents/{ref}/claim"): OPERATOR,
    ("DELETE", "/api/v1/incidents/{ref}/claim"): OPERATOR,
    ("POST", "/api/v1/incidents/{ref}/verify"): OPERATOR,
    ("PATCH", "/api/v1/units/{unit_id}"): OPERATOR,
    ("POST", "/api/v1/roads/closures"): OPERATOR,
    ("DELETE", "/api/v1/roads/closures/{segment_key}"): OPERATOR,
    ("POST", "/api/v1/warnings/{warning_id}/acknowledge"): OPERATOR,
    # Revealing a reporter's number, and working the call-back queue.
    ("GET", "/api/v1/reporters/{reporter_id}/number"): CALLBACK,
    ("GET", "/api/v1/callbacks/{task_id}/number"): CALLBACK,
    ("POST", "/api/v1/callbacks/{task_id}/{action}"): CALLBACK,
    # Managing operators, the audit log, units, zones, roads, CLAs and partners.
    ("GET", "/api/v1/operators"): ADMIN,
    ("POST", "/api/v1/operators"): ADMIN,
    ("PATCH", "/api/v1/operators/{username}"): ADMIN,
    ("GET", "/api/v1/audit"): ADMIN,
    ("POST", "/api/v1/units"): ADMIN,
    ("PUT", "/api/v1/units/{unit_id}"): ADMIN,
    ("DELETE", "/api/v1/units/{unit_id}"): ADMIN,
    ("PUT", "/api/v1/zones"): ADMIN,
    ("PUT", "/api/v1/roads"): ADMIN,
    ("POST", "/api/v1/clas"): ADMIN,
    ("GET", "/api/v1/partners"): ADMIN,
    ("POST", "/api/v1/partners"): ADMIN,
    ("DELETE", "/api/v1/partners/{name:path}"): ADMIN,
}
# A value for each path parameter: none names an existing row, so a caller let through changes nothing.
PATH_VALUES = {"ref": "K-0000", "report_id": "999999", "unit_id": "999999", "reporter_id": "999999",
               "task_id": "999999", "warning_id": "999999", "action": "claim", "segment_key": "no-such-road",
               "username": "no.such.operator", "name": "No such partner", "path": "js/app.js"}  # fmt: skip
CHECKED = [(op, minimum) for op, minimum in MINIMUM.items() if minimum != WEBHOOK]
PROTECTED = [(op, minimum) for op, minimum in CHECKED if minimum != PUBLIC]


def routes(app) -> set[tuple[str, str]]:
    """Every (method, path) the app serves; HEAD, which Starlette adds to GET routes, goes with its GET."""
    return {(method, route.path) for route in iter_route_contexts(app.routes)
            for method in route.methods or () if method != "HEAD"}  # fmt: skip


def concrete(path: str) -> str:
    for name, value in PATH_VALUES.items():
        path = path.replace("{" + name + "}", value).replace("{" + name + ":path}", value)
    assert "{" not in path, f"add a value for {path} to PATH_VALUES"
    return path


@dataclass
class Server:
    """The real app behind uvicorn, and a session factory on its database."""

    base: str
    app: object
    factory: object


@pytest.fixture(scope="module")
def server(database_url, engine, tmp_path_factory) -> Iterator[Server]:
    """The app served on 127.0.0.1 with one operator of each role; emptied afterwards."""
    configured = Settings(database_url=database_url, data_dir=tmp_path_factory.mktemp("authz"), secret_key=SECRET_KEY,
                          twilio_auth_token=TWILIO_TOKEN, embedded_worker=False)  # fmt: skip
    app = create_app(configured)
    factory = make_sessionmaker(engine)
    with transaction(factory) as session:
        for role in ROLES[1:]:
            operators.create(session=session, username=f"{role}.authz", password="correct horse battery", role=role)
    # A real server, not a TestClient: the live feed is an endless stream whose first bytes are all that is read.
    with served_in_thread(app, "uvicorn-authz") as base:
        yield Server(base, app, factory)
    _clean(engine)


def credentials(server: Server, role: str) -> dict[str, str]:
    """A fresh bearer token for the role's operator (a route under test may revoke the one it is sent)."""
    if role == ANONYMOUS:
        return {}
    with transaction(server.factory) as session:
        operator = session.scalars(select(Operator).where(Operator.username == f"{role}.authz")).one()
        token, _ = operators.issue_token(session=session, vault=server.app.state.vault, operator=operator,
                                         lifetime=timedelta(minutes=10))  # fmt: skip
    return {"Authorization": f"Bearer {token}"}


def call(server: Server, method: str, path: str, headers: dict[str, str]) -> int:
    """The status of one request (a body of `{}` where one may be sent); a stream is closed once it answers."""
    body = {"json": {}} if method in ("POST", "PUT", "PATCH") else {}
    with (
        httpx.Client(base_url=server.base, timeout=10) as http,
        http.stream(method, concrete(path), headers=headers, **body) as answer,
    ):
        return answer.status_code


def test_every_route_has_a_minimum_role(client):
    """A route that is not in MINIMUM (or an entry whose route is gone) fails: classify it."""
    served = routes(client.app)
    assert sorted(served - set(MINIMUM)) == [], "routes without a minimum role: add them to MINIMUM"
    assert sorted(set(MINIMUM) - served) == [], "MINIMUM names routes that no longer exist"


@pytest.mark.parametrize(("operation", "minimum"), CHECKED, ids=[" ".join(op) for op, _ in CHECKED])
def test_each_role_below_the_minimum_is_refused_and_the_others_get_through(server, operation, minimum):
    method, path = operation
    needed = 0 if minimum == PUBLIC else ROLES.index(minimum)
    for rank, role in enumerate(ROLES):
        status = call(server, method, path, credentials(server, role))
        if rank < needed:
            assert status == (401 if role == ANONYMOUS else 403), (role, status)
        else:
            assert status not in (401, 403), (role, status)


@pytest.mark.parametrize(("operation", "minimum"), PROTECTED, ids=[" ".join(op) for op, _ in PROTECTED])
def test_a_forged_or_revoked_token_counts_as_no_token(server, operation, minimum):
    """A made-up token, a token of another scheme, a revoked admin token and a made-up session are refused."""
    method, path = operation
    revoked = credentials(server, ADMIN)
    with transaction(server.factory) as session:
        operators.revoke_token(session=session, vault=server.app.state.vault,
                               token=revoked["Authorization"].removeprefix("Bearer "))  # fmt: skip
    for headers in ({"Authorization": "Bearer made-up-token"}, {"Authorization": "Basic YWRtaW46YWRtaW4="}, revoked):
        assert call(server, method, path, headers) == 401, headers
    # A made-up session cookie: a change without the CSRF token is refused before the cookie is even looked up.
    cookie = call(server, method, path, {"Cookie": "kengele_session=made-up-token"})
    assert cookie == (401 if method == "GET" else 403), cookie
