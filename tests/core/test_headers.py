"""Security headers on every answer, and CORS closed unless origins are configured."""

from __future__ import annotations

from app.core.headers import API_CSP
from tests.helpers import post_sms, sms_form

EVIL = "https://evil.example"


def test_api_answers_cannot_be_sniffed_framed_cached_or_run(client):
    for answer in (client.get("/healthz"), client.get("/api/v1/incidents"), client.get("/openapi.json"),
                   post_sms(client, sms_form())):  # fmt: skip
        assert answer.headers["X-Content-Type-Options"] == "nosniff"
        assert answer.headers["X-Frame-Options"] == "DENY"
        assert answer.headers["Referrer-Policy"] == "no-referrer"
        assert answer.headers["Content-Security-Policy"] == API_CSP
        assert answer.headers["Cache-Control"] == "no-store"
        assert "Strict-Transport-Security" not in answer.headers  # plain HTTP: HSTS means nothing there


def test_the_dashboard_keeps_its_own_policy(client):
    page = client.get("/dashboard")
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    assert page.headers["Cache-Control"] == "no-cache"


def test_hsts_when_published_over_https(make_client):
    https = make_client(public_base_url="https://alerts.example.org")
    assert https.get("/healthz").headers["Strict-Transport-Security"].startswith("max-age=31536000")


def test_no_origin_may_read_the_api_from_a_browser_by_default(client):
    preflight = client.options(
        "/api/v1/incidents",
        headers={
            "Origin": EVIL,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization",
        },
    )
    assert "access-control-allow-origin" not in preflight.headers
    simple = client.get("/api/v1/incidents", headers={"Origin": EVIL})
    assert "access-control-allow-origin" not in simple.headers


def test_only_configured_origins_may_and_never_with_cookies(make_client):
    ops = "https://ops.mission.example"
    configured = make_client(cors_origins=[ops])
    allowed = configured.options(
        "/api/v1/incidents",
        headers={
            "Origin": ops,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization",
        },
    )
    assert allowed.headers["access-control-allow-origin"] == ops
    assert "access-control-allow-credentials" not in allowed.headers
    refused = configured.options("/api/v1/incidents", headers={"Origin": EVIL, "Access-Control-Request-Method": "GET"})
    assert refused.status_code == 400 and "access-control-allow-origin" not in refused.headers
