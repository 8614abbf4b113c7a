"""Admins manage partner networks' keys through the API; an issued key works at once and stops when revoked."""

from __future__ import annotations

from tests.deployment import token_for
from tests.helpers import partner_body, post_partner


def test_an_admin_issues_a_key_that_works_and_revokes_it(client, factory):
    admin = token_for(client, factory, "admin")
    issued = client.post("/api/v1/partners", headers=admin, json={"name": "Caritas Bangassou"})
    assert issued.status_code == 201
    creds = issued.json()
    assert creds["api_key"].startswith("kp_") and creds["signing_secret"].startswith("ks_")
    assert client.post("/api/v1/partners", headers=admin, json={"name": "Caritas Bangassou"}).status_code == 409
    listed = client.get("/api/v1/partners", headers=admin)
    assert [p["name"] for p in listed.json()] == ["Caritas Bangassou"] and creds["api_key"] not in listed.text
    assert post_partner(client, creds["api_key"], creds["signing_secret"], partner_body()).status_code == 202
    assert client.delete("/api/v1/partners/Caritas Bangassou", headers=admin).status_code == 204
    assert post_partner(client, creds["api_key"], creds["signing_secret"], partner_body()).status_code == 401
    assert client.delete("/api/v1/partners/Nobody", headers=admin).status_code == 404
    operator = token_for(client, factory, "operator")
    assert client.get("/api/v1/partners", headers=operator).status_code == 403
