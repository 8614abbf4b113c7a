"""Prioritising incidents with the stored protection matrix: import, lookups by zone and site, cache invalidation."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest
from sqlalchemy import select

from app.core.clock import utcnow
from app.incidents.models import Incident
from app.protection import service
from app.protection.models import ProtectionZone, VulnerableSite
from app.protection.zones import ZoneImportError

DEMO_ZONES = Path(__file__).resolve().parents[2] / "app" / "data" / "demo" / "car_zones.geojson"
MATRIX = json.loads(DEMO_ZONES.read_text(encoding="utf-8"))
BRIA = (6.54233, 21.98633)  # the gazetteer's Bria: in the must-protect zone, on the market
KOUANGO = (4.99437, 19.98065)  # outside every demo zone, no site within reach
REFS = itertools.count(1000)


@pytest.fixture
def matrix(db_session):
    return service.import_protection(session=db_session, raw=DEMO_ZONES.read_bytes())


def incident(db_session, at, *, severity, reporters=1, category="other", precision_m=2000.0) -> Incident:
    now = utcnow()
    row = Incident(
        ref=f"K-{next(REFS)}", category=category, severity=severity, status="open",
        verification="unverified", lat=at[0], lon=at[1], precision_m=precision_m, first_report_at=now,
        last_report_at=now, report_count=reporters, reporter_count=reporters, created_at=now, updated_at=now,
    )  # fmt: skip
    db_session.add(row)
    db_session.flush()
    return row


def with_kouango_zone() -> str:
    """The demo matrix with the Birao zone redrawn as a must-protect square around Kouango: same counts."""
    doc = json.loads(json.dumps(MATRIX))
    lat, lon = KOUANGO
    square = [[lon - 0.1, lat - 0.1], [lon + 0.1, lat - 0.1], [lon + 0.1, lat + 0.1], [lon - 0.1, lat + 0.1]]
    for feature in doc["features"]:
        if feature["id"] == "zone-birao":
            feature["properties"].update(protection="must", name="Kouango")
            feature["geometry"] = {"type": "Polygon", "coordinates": [[*square, square[0]]]}
    return json.dumps(doc)


def test_importing_the_demo_matrix_stores_its_zones_and_sites(db_session, matrix):
    zones = {z.key: z for z in db_session.scalars(select(ProtectionZone))}
    sites = {s.key: s for s in db_session.scalars(select(VulnerableSite))}
    assert zones.keys() == {z.key for z in matrix.zones} and len(zones) == 15
    assert sites.keys() == {s.key for s in matrix.sites} and len(sites) == 10
    assert (zones["zone-bria"].name, zones["zone-bria"].protection) == ("Bria and PK3", "must")
    assert zones["zone-bria"].geometry["type"] == "Polygon"
    camp = sites["site-bria-pk3"]
    assert (camp.kind, camp.lat, camp.lon) == ("idp_camp", 6.56931, 21.98633)


def test_an_extreme_incident_in_bria_is_p1_because_of_its_zone(db_session, matrix):
    level, reasons = service.prioritise(session=db_session, incident=incident(db_session, BRIA, severity="extreme"))
    assert level == "P1"
    assert "must-protect zone 'Bria and PK3'" in reasons
    assert reasons[0] == "extreme severity"
    assert "inside market 'Bria market'" in reasons


def test_a_minor_report_from_one_sender_outside_every_zone_is_p4(db_session, matrix):
    level, reasons = service.prioritise(session=db_session, incident=incident(db_session, KOUANGO, severity="minor"))
    assert (level, reasons) == ("P4", ("minor severity",))


def test_an_incident_near_an_idp_camp_counts_the_camp(db_session, matrix):
    near_pk3 = (6.56931 + 0.012, 21.98633)  # 1.3 km north of the camp's centre, under a km from its edge
    _, reasons = service.prioritise(
        session=db_session, incident=incident(db_session, near_pk3, severity="moderate", precision_m=100.0)
    )
    assert [r for r in reasons if r.startswith("IDP camp 'PK3' 0.") and r.endswith(" km away")]


def test_an_unlocated_incident_is_prioritised_on_severity_alone(db_session, matrix):
    row = incident(db_session, BRIA, severity="severe")
    row.lat = row.lon = None
    assert service.prioritise(session=db_session, incident=row) == (
        "P2", ("severe severity", "unverified, not held back: severe alert"),
    )  # fmt: skip


def test_without_a_matrix_no_zone_or_site_counts(db_session):
    level, reasons = service.prioritise(session=db_session, incident=incident(db_session, BRIA, severity="moderate"))
    assert (level, reasons) == ("P4", ("moderate severity",))


def test_reimporting_a_different_matrix_changes_the_answer(db_session, matrix):
    row = incident(db_session, KOUANGO, severity="minor")
    assert service.prioritise(session=db_session, incident=row)[0] == "P4"  # the index is now cached
    service.import_protection(session=db_session, raw=with_kouango_zone())
    level, reasons = service.prioritise(session=db_session, incident=row)
    assert (level, reasons) == ("P3", ("minor severity", "must-protect zone 'Kouango'"))
    assert db_session.scalars(select(ProtectionZone.name).where(ProtectionZone.key == "zone-birao")).one() == "Kouango"


def test_a_bad_feature_is_a_zone_import_error_and_nothing_is_replaced(db_session, matrix):
    doc = json.loads(json.dumps(MATRIX))
    doc["features"][3]["properties"]["protection"] = "maybe"
    with pytest.raises(ZoneImportError, match=r"^features\[3\]: unknown protection class 'maybe'"):
        service.import_protection(session=db_session, raw=json.dumps(doc))
    assert len(db_session.scalars(select(ProtectionZone)).all()) == 15


def test_a_zone_name_longer_than_its_column_is_a_zone_import_error_or_cut_to_fit(db_session):
    doc = json.loads(json.dumps(MATRIX))
    doc["features"][0]["properties"]["name"] = "Bria, PK3 et les quartiers de la route de Ouadda " * 5  # 250 chars
    try:
        service.import_protection(session=db_session, raw=json.dumps(doc))
    except ZoneImportError as exc:
        assert str(exc).startswith("features[0]")
    else:
        names = db_session.scalars(select(ProtectionZone.name)).all()
        assert len(names) == 15 and max(map(len, names)) <= 200


def test_an_incident_13_km_from_bria_is_not_inside_bria_market(db_session, matrix):
    row = incident(db_session, BRIA, severity="moderate", precision_m=16_000.0)
    row.ring_m = 13_000.0  # "13 km from Bria", no direction: somewhere on that circle
    _, reasons = service.prioritise(session=db_session, incident=row)
    assert not [r for r in reasons if r.startswith(("inside ", "market ", "IDP camp "))]
