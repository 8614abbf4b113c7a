"""Browser sessions without a browser: the sign-in cookie and its CSRF token, the rules on changes, sign-out, the
live feed over the cookie, and the dashboard's files served under their Content-Security-Policy."""

from __future__ import annotations

import gzip
import re
from datetime import timedelta
from http.cookies import SimpleCookie
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from app.audit.models import AuditEntry
from app.core.db import transaction
from app.dashboard import router as dashboard
from app.feed import router as feed_router
from app.main import create_app
from app.operators import service
from app.operators.models import ApiToken, Operator
from tests.dashboard.conftest import PASSWORD, make_operator
from tests.deployment import token_for

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)
STATIC = Path(dashboard.__file__).parent / "static"


def set_cookies(answer: httpx.Response) -> dict[str, str]:
    """Each Set-Cookie header of an answer by cookie name, as sent (attributes included)."""
    return {header.split("=", 1)[0]: header for header in answer.headers.get_list("set-cookie")}


def sign_in(client: TestClient, username: str, password: str = PASSWORD, **headers: str) -> httpx.Response:
    return client.post("/api/v1/auth/session", data={"username": username, "password": password}, headers=headers)


def csrf(client: TestClient) -> dict[str, str]:
    """The header a dashboard page sends on changes: the value of its readable CSRF cookie."""
    return {"X-CSRF-Token": client.cookies["kengele_csrf"]}


def actions(factory) -> list[str]:
    with factory() as session:
        return list(session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))


def test_signing_in_sets_an_httponly_strict_session_cookie_and_a_readable_csrf_cookie(client, factory):
    make_operator(factory, "op.amina", "operator")
    answer = sign_in(client, "op.amina")
    assert answer.status_code == 200, answer.text
    assert answer.json()["username"] == "op.amina" and answer.json()["role"] == "operator"
    cookies = set_cookies(answer)
    session_cookie, csrf_cookie = cookies["kengele_session"], cookies["kengele_csrf"]
    for header in (session_cookie, csrf_cookie):
        assert "SameSite=strict" in header and "Path=/" in header and "Max-Age=43200" in header
        assert "Secure" not in header  # plain http: a Secure cookie would never come back
    assert "HttpOnly" in session_cookie and "HttpOnly" not in csrf_cookie
    token = SimpleCookie(session_cookie)["kengele_session"].value
    with factory() as session:
        stored = session.scalars(select(ApiToken.token_hash)).all()
    assert len(stored) == 1 and token not in stored  # an ordinary API token, kept as a keyed hash only
    assert client.cookies["kengele_csrf"] != token
    assert client.get("/api/v1/auth/me").json()["username"] == "op.amina"  # the cookie alone signs the request in
    assert actions(factory) == ["auth.session"]


def test_cookies_are_secure_over_https_or_when_the_deployment_is_published_on_https(settings, engine, factory):
    make_operator(factory, "op.amina", "operator")
    with TestClient(create_app(settings), base_url="https://testserver") as https:
        cookies = set_cookies(sign_in(https, "op.amina"))
        assert all("Secure" in header for header in cookies.values())
        assert https.get("/api/v1/auth/me").status_code == 200
    published = settings.model_copy(update={"public_base_url": "https://alerts.example.org"})
    with TestClient(create_app(published)) as behind_a_proxy:
        cookies = set_cookies(sign_in(behind_a_proxy, "op.amina"))
        assert all("Secure" in header for header in cookies.values())


def test_a_wrong_password_sets_no_cookie_and_is_audited(client, factory):
    make_operator(factory, "op.amina", "operator")
    for username, password in (("op.amina", "wrong password!"), ("nobody", PASSWORD)):
        answer = sign_in(client, username, password)
        assert answer.status_code == 401 and answer.json() == {"detail": "wrong username or password"}
        assert "set-cookie" not in answer.headers and "wrong password" not in answer.text
    assert actions(factory) == ["auth.failed", "auth.failed"]


def test_a_sign_in_posted_from_another_site_is_refused(client, factory):
    make_operator(factory, "op.amina", "operator")
    forged = sign_in(client, "op.amina", Origin="https://evil.example")
    assert forged.status_code == 403 and "set-cookie" not in forged.headers
    assert sign_in(client, "op.amina", Origin="http://testserver").status_code == 200


def test_with_the_cookie_reads_need_no_csrf_token_but_every_change_does(client, factory):
    make_operator(factory, "op.amina", "operator")
    sign_in(client, "op.amina")
    assert client.get("/api/v1/incidents").status_code == 200
    for method, path, body in (("post", "/api/v1/incidents/K-0000/acknowledge", {}),
                               ("patch", "/api/v1/units/999999", {"status": "committed"}),
                               ("delete", "/api/v1/roads/closures/nowhere", None)):  # fmt: skip
        for headers in ({}, {"X-CSRF-Token": ""}, {"X-CSRF-Token": "0" * 64}, {"X-CSRF-Token": "é".encode("latin-1")}):
            refused = client.request(method, path, json=body, headers=headers)
            assert refused.status_code == 403 and refused.json() == {"detail": "CSRF check failed"}, (method, headers)
        passed = client.request(method, path, json=body, headers=csrf(client))
        assert passed.status_code == 404, (method, passed.text)  # through the check: the thing does not exist


def test_a_planted_pair_of_matching_csrf_cookie_and_header_does_not_pass(client, factory):
    # A sibling host can plant a cookie and a page can send any header: the pair must be this session's own token.
    make_operator(factory, "op.amina", "operator")
    sign_in(client, "op.amina")
    client.cookies.set("kengele_csrf", "planted")
    refused = client.post("/api/v1/incidents/K-0000/acknowledge", headers={"X-CSRF-Token": "planted"})
    assert refused.status_code == 403


def test_another_sessions_csrf_token_does_not_pass(client, factory, settings):
    make_operator(factory, "op.amina", "operator")
    with TestClient(client.app) as other:
        sign_in(other, "op.amina")
        foreign = other.cookies["kengele_csrf"]
    sign_in(client, "op.amina")
    assert foreign != client.cookies["kengele_csrf"]
    client.cookies.set("kengele_csrf", foreign)
    assert client.post("/api/v1/incidents/K-0000/acknowledge", headers={"X-CSRF-Token": foreign}).status_code == 403


def test_bearer_requests_need_no_csrf_token_even_beside_a_session_cookie(client, factory):
    bearer = token_for(client, factory, "operator", "op.script")
    assert client.post("/api/v1/incidents/K-0000/acknowledge", headers=bearer).status_code == 404
    make_operator(factory, "op.amina", "operator")
    sign_in(client, "op.amina")
    assert client.post("/api/v1/incidents/K-0000/acknowledge", headers=bearer).status_code == 404
    wrong = {"Authorization": "Bearer not-a-token"}
    assert client.get("/api/v1/auth/me", headers=wrong).status_code == 401  # a bad bearer never falls back


def test_roles_hold_with_the_cookie(client, factory):
    make_operator(factory, "viewer.one", "viewer")
    sign_in(client, "viewer.one")
    answer = client.post("/api/v1/incidents/K-0000/acknowledge", headers=csrf(client))
    assert answer.status_code == 403 and "operator role" in answer.json()["detail"]


def test_signing_out_revokes_the_session_and_clears_its_cookies(client, factory):
    make_operator(factory, "op.amina", "operator")
    sign_in(client, "op.amina")
    token = client.cookies["kengele_session"]
    assert client.delete("/api/v1/auth/session").status_code == 403  # a cross-site page cannot sign anyone out
    answer = client.delete("/api/v1/auth/session", headers=csrf(client))
    assert answer.status_code == 204
    cleared = set_cookies(answer)
    assert {"kengele_session", "kengele_csrf"} <= set(cleared) and all("Max-Age=0" in h for h in cleared.values())
    client.cookies.set("kengele_session", token)  # the old cookie, kept by a careless browser
    refused = client.get("/api/v1/auth/me")
    assert refused.status_code == 401 and "sign in again" in refused.json()["detail"]
    assert actions(factory) == ["auth.session", "auth.logout"]


def test_an_expired_session_or_a_switched_off_account_is_401(client, factory, vault):
    make_operator(factory, "op.amina", "operator")
    with transaction(factory) as session:
        operator = session.scalars(select(Operator)).one()
        token, _ = service.issue_token(session=session, vault=vault, operator=operator, lifetime=timedelta(seconds=-1))
    client.cookies.set("kengele_session", token)
    assert client.get("/api/v1/auth/me").status_code == 401
    sign_in(client, "op.amina")
    with transaction(factory) as session:
        session.scalars(select(Operator)).one().active = False
    assert client.get("/api/v1/auth/me").status_code == 401


def test_the_live_feed_accepts_the_session_cookie(kengele, live, factory):
    make_operator(factory, "viewer.one", "viewer")
    sign_in(kengele.client, "viewer.one")
    cookie = {"kengele_session": kengele.client.cookies["kengele_session"]}
    with httpx.stream("GET", live + "/api/v1/feed/stream", cookies=cookie, timeout=5) as answer:
        assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/event-stream")
        first = next(answer.iter_lines())
        assert first.startswith(": following the feed")
    assert httpx.get(live + "/api/v1/feed/stream", timeout=5).status_code == 401
    bad = httpx.get(live + "/api/v1/feed/stream", cookies={"kengele_session": "forged"}, timeout=5)
    assert bad.status_code == 401


def test_without_the_dashboard_the_live_feed_takes_no_session_cookie(kengele, factory):
    make_operator(factory, "viewer.two", "viewer")
    sign_in(kengele.client, "viewer.two")
    feed_only = FastAPI()
    feed_only.include_router(feed_router.router)
    feed_only.state.sessionmaker = kengele.client.app.state.sessionmaker
    feed_only.state.vault = kengele.client.app.state.vault
    cookie = {"kengele_session": kengele.client.cookies["kengele_session"]}
    assert TestClient(feed_only, cookies=cookie).get("/api/v1/feed/stream").status_code == 401


def test_the_page_and_its_files_carry_the_content_security_policy(client):
    page = client.get("/dashboard")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert page.headers["content-security-policy"] == CSP
    assert page.headers["x-content-type-options"] == "nosniff" and page.headers["x-frame-options"] == "DENY"
    script = client.get("/dashboard/static/js/app.js", headers={"Accept-Encoding": "identity"})
    assert script.status_code == 200 and script.headers["content-type"].startswith("text/javascript")
    assert script.headers["content-security-policy"] == CSP
    again = client.get("/dashboard/static/js/app.js", headers={"If-None-Match": script.headers["etag"],
                                                               "Accept-Encoding": "identity"})  # fmt: skip
    assert again.status_code == 304 and again.content == b""
    with client.stream(
        "GET", "/dashboard/static/vendor/leaflet/leaflet.js", headers={"Accept-Encoding": "gzip"}
    ) as packed:
        assert packed.headers["content-encoding"] == "gzip" and packed.headers["vary"] == "Accept-Encoding"
        wire = b"".join(packed.iter_raw())
    assert len(wire) < 50_000 and len(gzip.decompress(wire)) > 140_000  # what a slow link carries, and what it is


def test_nothing_outside_the_static_folder_or_of_an_unserved_kind_is_given_out(client):
    for path in ("/dashboard/static/../router.py", "/dashboard/static/%2e%2e/router.py",
                 "/dashboard/static/..%2f__init__.py", "/dashboard/static/vendor/README.md",
                 "/dashboard/static/vendor/leaflet/LICENSE", "/dashboard/static/nothing.js",
                 "/dashboard/static/"):  # fmt: skip
        assert client.get(path).status_code == 404, path


def test_the_root_leads_to_the_dashboard_and_the_api_is_described_without_cdn_pages(client):
    root = client.get("/", follow_redirects=False)
    assert root.status_code in (302, 307) and root.headers["location"] == "/dashboard"
    assert client.get("/openapi.json").json()["info"]["title"] == "Kengele"
    # Swagger UI and ReDoc would load their scripts from a CDN: not served.
    assert client.get("/docs").status_code == 404 and client.get("/redoc").status_code == 404


def test_the_map_configuration_needs_a_viewer_and_widens_the_policy_only_for_a_tile_server(client, factory,
                                                                                            monkeypatch):  # fmt: skip
    assert client.get("/api/v1/dashboard/config").status_code == 401
    viewer = token_for(client, factory, "viewer")
    assert client.get("/api/v1/dashboard/config", headers=viewer).json() == {"tile_url": None,
                                                                             "tile_attribution": None}  # fmt: skip
    monkeypatch.setattr(dashboard, "MAP_TILE_URL", "https://{s}.tiles.mission.example/{z}/{x}/{y}.png")
    monkeypatch.setattr(dashboard, "MAP_TILE_ATTRIBUTION", "© Mission GIS")
    config = client.get("/api/v1/dashboard/config", headers=viewer).json()
    assert config == {"tile_url": "https://{s}.tiles.mission.example/{z}/{x}/{y}.png",
                      "tile_attribution": "© Mission GIS"}  # fmt: skip
    policy = client.get("/dashboard").headers["content-security-policy"]
    assert "img-src 'self' data: https://*.tiles.mission.example;" in policy
    assert "connect-src 'self';" in policy and "script-src 'self';" in policy
    monkeypatch.setattr(dashboard, "MAP_TILE_URL", "javascript:alert(1)//{z}/{x}/{y}")
    assert client.get("/api/v1/dashboard/config", headers=viewer).json()["tile_url"] is None
    assert client.get("/dashboard").headers["content-security-policy"] == CSP


def test_the_page_has_no_inline_script_or_style_and_the_scripts_never_write_markup():
    html = (STATIC / "index.html").read_text()
    assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", html) == []
    assert "<style" not in html and not re.search(r"\sstyle=", html) and not re.search(r"\son[a-z]+=", html)
    assert not re.search(r"(src|href)=\"(https?:)?//", html)  # nothing from another host
    for script in (STATIC / "js").glob("*.js"):
        text = script.read_text()
        for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"):
            assert sink not in text, (script.name, sink)
        assert not re.search(r"https?://", text), script.name


def test_the_dictionaries_have_the_same_keys_and_every_key_the_page_names():
    import json

    english = json.loads((STATIC / "i18n" / "en.json").read_text())
    french = json.loads((STATIC / "i18n" / "fr.json").read_text())
    assert set(english) == set(french)
    named = set(re.findall(r'data-i18n(?:-aria-label)?="([^"]+)"', (STATIC / "index.html").read_text()))
    for script in (STATIC / "js").glob("*.js"):
        named |= set(re.findall(r'\bt\("([a-zA-Z.]+)"', script.read_text()))
    assert named - set(english) == set()


@pytest.mark.parametrize("name", ["leaflet/LICENSE", "basemap/LICENSE-world-atlas", "README.md"])
def test_vendored_files_keep_their_licences(name):
    assert (STATIC / "vendor" / name).stat().st_size > 200
