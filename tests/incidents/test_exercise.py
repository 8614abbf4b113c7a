"""Drills: a message signed as an exercise stays an exercise end to end (report, incident, alerts, stand-downs, feed,
exports) and never mixes with real alerts; nobody but the holder of the Twilio token can mark one."""

from __future__ import annotations

import io

import hxl
import pytest
import xmlschema
from sqlalchemy import func, select

from app.core.db import transaction
from app.feed.models import FeedEventRow
from app.incidents.models import Incident, Report
from app.intake.models import InboundMessage
from app.intake.simulate import EXERCISE_FIELD
from app.notify.service import EXERCISE_MARK
from app.reporters.models import Reporter
from app.security.signatures import sign_twilio
from app.verification import service as verification
from tests.conftest import TESTS_DIR, TWILIO_TOKEN
from tests.deployment import token_for
from tests.helpers import SMS_URL, post_sms, sms_form

ATTACK = "Attaque des hommes armés à Bria, 12 morts"
SENDER = "+23672110004"
CLA_PHONE = "+23672200001"
CAP = "{urn:oasis:names:tc:emergency:cap:1.2}"


def drill(**fields: str) -> dict[str, str]:
    return sms_form(**fields, **{EXERCISE_FIELD: "1"})


@pytest.fixture
def cla(kengele, factory, vault) -> None:
    """CLA Bria, always on duty: drills reach CLAs too."""
    with transaction(factory) as session:
        verification.register_cla(session=session, vault=vault, name="CLA Bria", phone=CLA_PHONE,
                                  default_region="CF", area=verification.Area("Bria", 6.54233, 21.98633, 40.0),
                                  languages=["fr"], schedule=[])  # fmt: skip


@pytest.fixture
def viewer(kengele, factory) -> dict[str, str]:
    return token_for(kengele.client, factory, "viewer", "view.ben")


def both(kengele, factory) -> tuple[Incident, Incident]:
    """The same words from the same sender at the same time, once as a drill and once for real: (drill, real)."""
    assert post_sms(kengele.client, drill(From=SENDER, Body=ATTACK)).status_code == 200
    assert post_sms(kengele.client, sms_form(From=SENDER, Body=ATTACK)).status_code == 200
    kengele.work()
    with factory() as session:
        incidents = session.scalars(select(Incident).order_by(Incident.exercise.desc())).all()
    assert len(incidents) == 2
    return incidents[0], incidents[1]


def test_a_drill_and_a_real_alert_about_the_same_attack_make_two_incidents(kengele, factory, viewer):
    exercise, real = both(kengele, factory)
    assert (exercise.exercise, real.exercise) == (True, False)
    assert exercise.place == real.place == "Bria" and exercise.report_count == real.report_count == 1
    with factory() as session:  # not folded as a repeat either, though the words and sender are the same
        rows = session.execute(select(Report.exercise, Report.repeat_of_id, InboundMessage.exercise)
                               .join(InboundMessage, InboundMessage.id == Report.inbound_message_id)).all()  # fmt: skip
    assert sorted(rows) == [(False, None, False), (True, None, True)]
    listed = kengele.client.get("/api/v1/incidents", headers=viewer).json()["items"]
    assert {(i["ref"], i["exercise"]) for i in listed} == {(exercise.ref, True), (real.ref, False)}
    only = kengele.client.get("/api/v1/incidents", headers=viewer, params={"exercise": "true"}).json()["items"]
    assert [i["ref"] for i in only] == [exercise.ref]
    only = kengele.client.get("/api/v1/incidents", headers=viewer, params={"exercise": "false"}).json()["items"]
    assert [i["ref"] for i in only] == [real.ref]
    # A drill quoting the real incident's reference still does not join it.
    post_sms(kengele.client, drill(From="+23672110009", Body=f"{real.ref} tirs à Bria"))
    kengele.work()
    with factory() as session:
        assert session.get(Incident, real.id).report_count == 1


def test_every_message_about_a_drill_says_exercise_and_trust_never_moves(kengele, factory, twilio_api, cla):
    exercise, real = both(kengele, factory)
    kengele.send()
    sms = [(m.get("To"), m.get("Body")) for m in twilio_api.fake.created("Messages")]
    drill_sms = [body for _, body in sms if exercise.ref in body]
    real_sms = [body for _, body in sms if real.ref in body]
    assert drill_sms and all(body.startswith(EXERCISE_MARK) for body in drill_sms)
    assert real_sms and not any("EXERCI" in body for body in real_sms)
    assert any(to == CLA_PHONE for to, body in sms if exercise.ref in body)  # the CLA is asked, marked too
    calls = [c.get("Twiml") for c in twilio_api.fake.created("Calls") if exercise.ref in c.get("Twiml")]
    assert calls and all("EXERCICE/EXERCISE" in twiml for twiml in calls)

    seen = len(sms)
    post_sms(kengele.client, sms_form(From=CLA_PHONE, Body=f"FALSE {exercise.ref}"))  # the CLA plays along
    kengele.work()
    kengele.send()
    stand_downs = [m.get("Body") for m in twilio_api.fake.created("Messages")[seen:]]
    assert stand_downs and all(body.startswith(EXERCISE_MARK + "KENGELE") for body in stand_downs)
    assert all("FAUSSE ALERTE" in body for body in stand_downs)
    with factory() as session:
        assert session.get(Incident, exercise.id).status == "false_alarm"
        sender = session.scalars(select(Reporter).where(Reporter.kind == "villager")).one()
    assert (sender.confirmed_reports, sender.false_reports, sender.trust) == (0, 0, None)  # a drill proves nothing


def test_a_drill_sends_no_update_to_its_simulated_sender(kengele, factory, twilio_api):
    post_sms(kengele.client, drill(From=SENDER, Body=ATTACK))
    kengele.work()
    operator = token_for(kengele.client, factory, "operator", "op.amina")
    with factory() as session:
        ref = session.scalars(select(Incident.ref)).one()
    assert kengele.client.post(f"/api/v1/incidents/{ref}/acknowledge", headers=operator).status_code == 200
    kengele.send()
    assert SENDER not in {m.get("To") for m in twilio_api.fake.created("Messages")}  # maybe a stranger's phone


def test_the_feed_and_every_export_mark_the_drill(kengele, factory, viewer):
    exercise, real = both(kengele, factory)
    with factory() as session:
        rows = session.scalars(select(FeedEventRow)).all()
    assert {r.data["exercise"] for r in rows if r.ref == exercise.ref} == {True}
    assert {r.data["exercise"] for r in rows if r.ref == real.ref} == {False}

    schema = xmlschema.XMLSchema(TESTS_DIR / "data" / "CAP-v1.2.xsd")
    for incident, status in ((exercise, "Exercise"), (real, "Actual")):
        answer = kengele.client.get(f"/api/v1/exports/cap/{incident.ref}.xml", headers=viewer)
        schema.validate(answer.text)
        root = xmlschema.XMLResource(answer.text).root
        assert root.find(f"{CAP}status").text == status
    note = root_of(kengele, viewer, exercise.ref).find(f"{CAP}note").text
    assert "EXERCICE" in note and root_of(kengele, viewer, real.ref).find(f"{CAP}note") is None

    features = kengele.client.get("/api/v1/exports/incidents.geojson", headers=viewer).json()["features"]
    assert {f["id"]: f["properties"]["exercise"] for f in features} == {exercise.ref: True, real.ref: False}
    csv = kengele.client.get("/api/v1/exports/incidents.csv", headers=viewer, params={"exercise": "true"})
    [row] = list(hxl.data(io.BytesIO(csv.content)))
    assert (row.get("#event+code"), row.get("#x_exercise")) == (exercise.ref, "true")


def root_of(kengele, viewer, ref: str):
    return xmlschema.XMLResource(kengele.client.get(f"/api/v1/exports/cap/{ref}.xml", headers=viewer).text).root


def test_an_exercise_field_that_twilio_did_not_sign_is_refused(kengele, factory, make_client):
    form = sms_form(From=SENDER, Body=ATTACK)
    signed_without = sign_twilio(auth_token=TWILIO_TOKEN, url=SMS_URL, params=form)
    forged = kengele.client.post(SMS_URL, data={**form, EXERCISE_FIELD: "1"},
                                 headers={"X-Twilio-Signature": signed_without})  # fmt: skip
    assert forged.status_code == 403 and "Signature" in forged.text
    assert kengele.client.post(SMS_URL, data=drill(From=SENDER, Body=ATTACK)).status_code == 403  # no signature
    insecure = make_client(insecure_skip_twilio_signature=True)  # nothing is checked: a drill cannot be trusted
    answer = post_sms(insecure, drill(From=SENDER, Body=ATTACK))
    assert answer.status_code == 403 and "KengeleExercise" in answer.text
    with factory() as session:
        assert session.scalar(select(func.count()).select_from(InboundMessage)) == 0
