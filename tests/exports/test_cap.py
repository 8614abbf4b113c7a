"""CAP 1.2 export: every document valid against the OASIS schema, the thread Alert → Update → Cancel, the Atom feed."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime

import pytest
import xmlschema
from sqlalchemy import select

from app.core.db import transaction
from app.exports import cap, service
from app.exports.facts import IncidentRecord
from app.incidents import service as incidents
from app.incidents.models import Report
from tests.conftest import TESTS_DIR
from tests.deployment import token_for

CAP = "{urn:oasis:names:tc:emergency:cap:1.2}"
ATOM = "{http://www.w3.org/2005/Atom}"
EXPORTS = "/api/v1/exports"
CAP_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[-+]\d\d:\d\d$")


@pytest.fixture(scope="module")
def schema() -> xmlschema.XMLSchema:
    return xmlschema.XMLSchema(TESTS_DIR / "data" / "CAP-v1.2.xsd")


def fetch(kengele, headers, ref: str, schema, **params):
    """The incident's CAP document, checked against the schema; returns its root element."""
    answer = kengele.client.get(f"{EXPORTS}/cap/{ref}.xml", params=params, headers=headers)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/cap+xml"
    schema.validate(answer.text)
    return xmlschema.XMLResource(answer.text).root


def text(element, path: str) -> str | None:
    found = element.find(path.replace("cap:", CAP))
    return None if found is None else found.text


def parameters(alert) -> dict[str, str]:
    return {text(p, "cap:valueName"): text(p, "cap:value") for p in alert.iter(f"{CAP}parameter")}


def ref_of(stored, place: str | None = None) -> str:
    return next(i["ref"] for i in stored() if place is None or i["place"] == place)


def test_a_new_incident_is_a_valid_restricted_alert(kengele, viewer, send, stored, schema):
    send("Attaque des hommes armés à Bria, 12 morts")
    ref = ref_of(stored)
    alert = fetch(kengele, viewer, ref, schema)
    assert (text(alert, "cap:status"), text(alert, "cap:msgType"), text(alert, "cap:scope")) == (
        "Actual", "Alert", "Restricted")  # fmt: skip
    assert text(alert, "cap:restriction") and text(alert, "cap:references") is None
    assert text(alert, "cap:incidents") == ref and text(alert, "cap:sender") == cap.SENDER
    assert re.fullmatch(rf"kengele-cf-{ref}-\d{{8}}T\d{{6}}Z-r0", text(alert, "cap:identifier"))
    assert CAP_TIME.match(text(alert, "cap:sent")) and "Z" not in text(alert, "cap:sent")
    info = alert.find(f"{CAP}info")
    expected = {"language": "fr", "category": "Security", "event": "Attaque contre des civils",
                "responseType": "Prepare", "urgency": "Immediate", "severity": "Extreme",
                "certainty": "Possible"}  # fmt: skip
    assert {name: text(info, f"cap:{name}") for name in expected} == expected
    params = parameters(alert)
    assert params.pop("priority") in ("P1", "P2")
    assert params == {"status": "escalated", "verification": "unverified", "reports": "1", "reporters": "1",
                      "dead_min": "12", "dead_max": "12"}  # fmt: skip
    assert text(info, "cap:area/cap:areaDesc") == "Bria"
    assert text(info, "cap:area/cap:circle") == "6.542330,21.986330 3"  # latitude first, radius in km
    assert "Bria" in text(info, "cap:headline") and "12" in text(info, "cap:description")


def test_a_change_is_an_update_referring_to_the_message_before(kengele, viewer, send, stored, schema, factory):
    send("Attaque des hommes armés à Bria, 12 morts")
    ref = ref_of(stored)
    first = fetch(kengele, viewer, ref, schema)
    operator = token_for(kengele.client, factory, "operator", "op.amina")
    assert kengele.client.post(f"/api/v1/incidents/{ref}/acknowledge", headers=operator).status_code == 200
    update = fetch(kengele, viewer, ref, schema)
    assert text(update, "cap:msgType") == "Update" and text(update, "cap:identifier").endswith("-r1")
    assert text(update, "cap:references") == ",".join(
        [cap.SENDER, text(first, "cap:identifier"), text(first, "cap:sent")])  # fmt: skip
    assert parameters(update)["status"] == "acknowledged"
    assert kengele.client.post(f"/api/v1/incidents/{ref}/resolve", headers=operator).status_code == 200
    closed = fetch(kengele, viewer, ref, schema)
    assert text(closed, "cap:msgType") == "Update" and text(update, "cap:identifier") in text(closed, "cap:references")
    info = closed.find(f"{CAP}info")
    assert (text(info, "cap:responseType"), text(info, "cap:urgency")) == ("AllClear", "Past")


def test_a_false_alarm_is_a_cancel(kengele, viewer, send, stored, schema, factory):
    send("Attaque des hommes armés à Bria, 12 morts")
    ref = ref_of(stored)
    alert = fetch(kengele, viewer, ref, schema)
    with transaction(factory) as session:
        [report_id] = session.scalars(select(Report.id).where(Report.incident_id.is_not(None)))
        incidents.reject_report(session=session, report_id=report_id, actor="op.amina", reason="CLA: faux")
    cancel = fetch(kengele, viewer, ref, schema)
    assert text(cancel, "cap:msgType") == "Cancel" and "Fausse alerte" in text(cancel, "cap:note")
    assert text(alert, "cap:identifier") in text(cancel, "cap:references")
    assert text(cancel.find(f"{CAP}info"), "cap:responseType") == "None"


def test_a_merged_incident_is_cancelled_in_favour_of_the_other(kengele, viewer, send, stored, schema, factory):
    send("Attaque des hommes armés à Bria, 12 morts")
    send("Des hommes armés vus à Kembé hier, on a peur", "+23672110005")
    bria, kembe = ref_of(stored, "Bria"), ref_of(stored, "Kembé")
    with transaction(factory) as session:
        incidents.merge(session=session, keep_ref=bria, absorb_ref=kembe, actor="op.amina")
    cancel = fetch(kengele, viewer, kembe, schema)
    assert text(cancel, "cap:msgType") == "Cancel" and bria in text(cancel, "cap:note")


def test_three_witnesses_make_it_likely_and_english_is_available(kengele, viewer, send, stored, schema):
    for n, body in enumerate(["Attaque des hommes armés à Bria, 12 morts", "Des hommes armés ont attaqué Bria",
                              "Attaque à Bria, des morts"]):  # fmt: skip
        send(body, f"+2367211002{n}")
    ref = ref_of(stored)
    alert = fetch(kengele, viewer, ref, schema, language="en")
    info = alert.find(f"{CAP}info")
    assert text(info, "cap:certainty") == "Likely" and parameters(alert)["reporters"] == "3"
    assert (text(info, "cap:language"), text(info, "cap:event")) == ("en", "Attack on civilians")
    assert text(alert, "cap:msgType") == "Update"  # two reports joined after the first


def test_a_ring_is_a_circle_as_wide_as_the_ring_and_unlocated_has_no_circle(kengele, viewer, send, stored, schema):
    send("Hommes armés vus à 28 km de Bambari, on a peur")
    send("Attaque des hommes armés cette nuit, 3 morts, aidez nous", "+23672110005")
    listed = stored()
    ring = next(i for i in listed if i["ring_m"])
    unlocated = next(i for i in listed if i["lat"] is None)
    area = fetch(kengele, viewer, ring["ref"], schema).find(f"{CAP}info/{CAP}area")
    centre, radius = text(area, "cap:circle").split()
    assert centre == f"{ring['lat']:.6f},{ring['lon']:.6f}" and text(area, "cap:areaDesc") == "Bambari"
    assert float(radius) == pytest.approx((ring["ring_m"] + ring["precision_m"]) / 1000, abs=0.001)
    area = fetch(kengele, viewer, unlocated["ref"], schema).find(f"{CAP}info/{CAP}area")
    assert text(area, "cap:circle") is None and text(area, "cap:areaDesc") == "Lieu non déterminé"


def test_the_atom_feed_embeds_a_valid_alert_per_open_incident(kengele, viewer, send, stored, schema, factory):
    send("Attaque des hommes armés à Bria, 12 morts")
    send("Des hommes armés vus à Kembé hier, on a peur", "+23672110005")
    send("Hommes armés vus à 28 km de Bambari, on a peur", "+23672110006")
    operator = token_for(kengele.client, factory, "operator", "op.amina")
    closed = ref_of(stored, "Bambari")
    assert kengele.client.post(f"/api/v1/incidents/{closed}/resolve", headers=operator).status_code == 200
    answer = kengele.client.get(f"{EXPORTS}/cap.atom", headers=viewer)
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/atom+xml"
    feed = xmlschema.XMLResource(answer.text).root
    assert feed.tag == f"{ATOM}feed" and feed.find(f"{ATOM}id").text.endswith("/api/v1/exports/cap.atom")
    assert feed.find(f"{ATOM}title").text and feed.find(f"{ATOM}author/{ATOM}name").text == "Kengele"
    entries = feed.findall(f"{ATOM}entry")
    refs = set()
    for entry in entries:
        link = entry.find(f"{ATOM}link[@rel='alternate']")
        assert link.get("type") == "application/cap+xml" and link.get("href") == entry.find(f"{ATOM}id").text
        assert datetime.fromisoformat(entry.find(f"{ATOM}updated").text).tzinfo is not None
        content = entry.find(f"{ATOM}content")
        assert content.get("type") == "application/cap+xml"
        [alert] = list(content)
        assert alert.tag == f"{CAP}alert"
        schema.validate(alert)
        assert entry.find(f"{ATOM}title").text == text(alert, "cap:info/cap:headline")
        ref = text(alert, "cap:incidents")
        refs.add(ref)
        assert link.get("href").endswith(f"{EXPORTS}/cap/{ref}.xml")
        linked = fetch(kengele, viewer, ref, schema)  # the alternate link serves the same message
        assert text(linked, "cap:identifier") == text(alert, "cap:identifier")
    assert len(refs) == len(entries) == 2 and closed not in refs


def test_an_unknown_reference_is_404(kengele, viewer):
    assert kengele.client.get(f"{EXPORTS}/cap/K-0000.xml", headers=viewer).status_code == 404


def record(**changes) -> IncidentRecord:
    at = datetime(2026, 5, 1, 14, 3, 7, 250_000, tzinfo=UTC)
    facts = IncidentRecord(
        ref="K-4821", status="open", priority="P3", category="armed_presence", severity="moderate",
        verification="pending", lat=6.54233, lon=21.98633, precision_m=1500.0, ring_m=None, place="Bria",
        first_report_at=at, last_report_at=at, dead_min=None, dead_max=None, report_count=1, reporter_count=1,
        created_at=at,
    )  # fmt: skip
    return replace(facts, **changes)


def test_an_exercise_is_marked_as_one_and_odd_place_names_stay_valid_xml(schema):
    drill = cap.alert(record(place='Bria <PK&3> \x01"quartier"'), exercise=True)
    schema.validate(drill.to_xml())
    root = xmlschema.XMLResource(drill.to_xml()).root
    assert text(root, "cap:status") == "Exercise" and text(root, "cap:sent") == "2026-05-01T14:03:07-00:00"
    assert text(root, "cap:info/cap:area/cap:areaDesc") == 'Bria <PK&3> "quartier"'
    info = root.find(f"{CAP}info")
    expected = {"urgency": "Expected", "certainty": "Possible", "responseType": "Monitor", "category": "Security"}
    assert {name: text(info, f"cap:{name}") for name in expected} == expected


@pytest.mark.parametrize(
    ("priority", "status", "urgency"),
    [("P1", "open", "Immediate"), ("P2", "escalated", "Immediate"), ("P3", "acknowledged", "Expected"),
     ("P4", "open", "Future"), (None, "open", "Unknown"), ("P1", "resolved", "Past")],
)  # fmt: skip
def test_urgency_follows_priority_until_the_incident_closes(priority, status, urgency):
    assert cap.urgency(record(priority=priority, status=status)) == urgency


T0 = datetime(2026, 5, 1, 14, 3, tzinfo=UTC)
OPENING = [("created", {}), ("verification_requested", {}), ("status", {"from": "open", "to": "escalated"}),
           ("escalation_started", {}), ("notified", {})]  # fmt: skip


@pytest.mark.parametrize(("lines", "news"), [
    (OPENING, 0),
    ([*OPENING, ("notified", {}), ("stood_down", {}), ("some_future_kind", {})], 0),
    ([*OPENING, ("report_added", {}), ("priority", {"from": "P3", "to": "P1"}), ("verified", {})], 3),
    ([*OPENING, ("status", {"from": "escalated", "to": "acknowledged"}), ("report_rejected", {})], 2),
    ([("created", {}), ("held", {}), ("hold_expired", {}), ("status", {"from": "open", "to": "escalated"})], 1),
    ([("created", {}), ("split", {"from": "K-1"})], 0),
    ([*OPENING, ("split", {"to": "K-2"}), ("merged", {"absorbed": "K-3"})], 2),
])  # fmt: skip
def test_only_news_on_the_timeline_starts_a_new_message(lines, news):
    timeline = [(T0.replace(second=n), kind, data) for n, (kind, data) in enumerate(lines)]
    assert len(service.news(timeline)) == news


def test_identifiers_stay_unique_within_one_second_and_updates_name_the_alert_and_the_one_before():
    first = record()
    later = [first.created_at.replace(microsecond=900_000), first.created_at.replace(second=59)]
    alert, update, again = cap.message(first, []), cap.message(first, later[:1]), cap.message(first, later)
    assert alert.sent.second == update.sent.second and alert.identifier != update.identifier
    assert update.references == f"{cap.SENDER},{alert.identifier},2026-05-01T14:03:07-00:00"
    assert again.references == f"{update.references} {cap.SENDER},{update.identifier},2026-05-01T14:03:07-00:00"
    assert again.identifier.endswith("20260501T140359Z-r2")
