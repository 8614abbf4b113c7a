"""The verification loop on the demo deployment, through the real Twilio SDK and the fake Twilio: beeps become
call-back tasks for the CLA on duty, CLAs confirm or deny by keypad or SMS, and trust follows the answers."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from app.audit.models import AuditEntry
from app.core.db import transaction
from app.escalation.models import Escalation
from app.incidents.models import Incident, IncidentEvent
from app.notify.twiml import validate_twiml
from app.reporters.models import Reporter
from app.security.signatures import sign_twilio
from app.verification import service
from app.verification.models import CallbackTask, VerificationRequest
from tests.conftest import TWILIO_ACCOUNT, TWILIO_TOKEN
from tests.deployment import later, token_for
from tests.helpers import new_sid, post_sms, register_reporter, sms_form

CLA_PHONE = "+23672200001"
VILLAGER = "+23672200101"
STRANGER = "+23672200199"
BRIA = (6.54233, 21.98633)


@pytest.fixture
def cla(kengele, factory, vault):
    """CLA Bria: always on duty, answers for 40 km round Bria, speaks French."""
    with transaction(factory) as session:
        return service.register_cla(
            session=session, vault=vault, name="CLA Bria", phone=CLA_PHONE, default_region="CF",
            area=service.Area("Bria", *BRIA, 40.0), languages=["fr"], schedule=[],
        ).id  # fmt: skip


def signed_post(client, path: str, form: dict[str, str]):
    url = f"http://testserver{path}"
    return client.post(url, data=form, headers={"X-Twilio-Signature": sign_twilio(auth_token=TWILIO_TOKEN, url=url,
                                                                                 params=form)})  # fmt: skip


def beep(client, sender: str):
    form = {"CallSid": new_sid("CA"), "From": sender, "To": "+23670000000", "CallStatus": "ringing",
            "AccountSid": TWILIO_ACCOUNT}  # fmt: skip
    return signed_post(client, "/twilio/voice", form)


def sms_to(twilio_api, number: str) -> list[str]:
    return [r.get("Body") for r in twilio_api.fake.created("Messages") if r.get("To") == number]


def test_a_beep_is_refused_busy_and_becomes_one_call_back_task_for_the_cla_on_duty(
    kengele, twilio_api, factory, vault, cla
):
    register_reporter(factory, vault, VILLAGER, home_lat=6.60, home_lon=22.00, home_place="Ndiba")
    answers = [beep(kengele.client, VILLAGER) for _ in range(3)]  # beeps again and again
    for answer in answers:
        assert answer.status_code == 200 and validate_twiml(answer.text) == []
        assert '<Reject reason="busy"' in answer.text
    kengele.work()
    kengele.send()
    with factory() as session:
        [task] = session.scalars(select(CallbackTask)).all()
        assert (task.cla_id, task.beeps, task.status) == (cla, 3, "open")
        reveals = session.scalars(select(AuditEntry).where(AuditEntry.action == "reporter.reveal")).all()
    [sms] = sms_to(twilio_api, CLA_PHONE)  # one SMS for three beeps
    assert VILLAGER in sms and "Ndiba" in sms and f"Tâche {task.id}" in sms
    assert [(r.actor, r.detail["via"]) for r in reveals] == [("cla:CLA Bria", "sms")]


def test_a_beep_from_an_unknown_number_waits_in_the_operators_queue(kengele, twilio_api, factory, cla):
    beep(kengele.client, STRANGER)
    kengele.work()
    kengele.send()
    assert twilio_api.fake.created("Messages") == []  # no place, so no CLA is responsible
    viewer, callback = token_for(kengele.client, factory, "viewer"), token_for(kengele.client, factory, "callback")
    [task] = kengele.client.get("/api/v1/callbacks", headers=viewer).json()
    assert task["cla"] is None and task["caller"] == "+236 ••••••99" and STRANGER[1:] not in str(task)
    assert kengele.client.post(f"/api/v1/callbacks/{task['id']}/claim", headers=viewer).status_code == 403
    claimed = kengele.client.post(f"/api/v1/callbacks/{task['id']}/claim", headers=callback)
    assert claimed.json()["status"] == "claimed"
    assert kengele.client.get(f"/api/v1/callbacks/{task['id']}/number", headers=callback).json() == {"number": STRANGER}
    done = kengele.client.post(f"/api/v1/callbacks/{task['id']}/done", headers=callback, json={"note": "all fine"})
    assert done.json()["status"] == "done"
    assert kengele.client.post(f"/api/v1/callbacks/{task['id']}/claim", headers=callback).status_code == 409
    with factory() as session:
        actions = session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)).all()
    assert [a for a in actions if a.startswith(("callback", "reporter"))] == [
        "callback.claim",
        "reporter.reveal",
        "callback.done",
    ]


def test_an_off_duty_cla_gets_no_task(kengele, twilio_api, factory, vault, cla):
    with transaction(factory) as session:  # a shift that is never now: a minute on a day that has none
        service.register_cla(session=session, vault=vault, name="CLA Bria", phone=CLA_PHONE, default_region="CF",
                             area=service.Area("Bria", *BRIA, 40.0), languages=["fr"],
                             schedule=[{"days": [], "start": "00:00", "end": "00:01"}])  # fmt: skip
    register_reporter(factory, vault, VILLAGER, home_lat=6.60, home_lon=22.00, home_place="Ndiba")
    beep(kengele.client, VILLAGER)
    kengele.work()
    with factory() as session:
        assert session.scalars(select(CallbackTask.cla_id)).one() is None


def confirmation_call(twilio_api) -> tuple[object, str]:
    [call] = [c for c in twilio_api.fake.created("Calls") if c.get("To") == CLA_PHONE]
    return call, call.get("Twiml")


def press(client, call, digits: str):
    action = re.search(r'action="([^"]+)"', call.get("Twiml")).group(1)
    form = {"CallSid": call.sid, "Digits": digits, "AccountSid": TWILIO_ACCOUNT}
    signature = sign_twilio(auth_token=TWILIO_TOKEN, url=action, params=form)
    return client.post(action, data=form, headers={"X-Twilio-Signature": signature})


def test_the_confirmation_call_is_valid_twiml_with_a_retry_and_a_fallback(kengele, twilio_api, factory, cla):
    post_sms(kengele.client, sms_form(From=STRANGER, Body="Attaque des hommes armés à Bria, 5 morts"))
    kengele.work()
    kengele.send()
    _, twiml = confirmation_call(twilio_api)
    assert validate_twiml(twiml) == []
    assert twiml.count("<Gather") == 2 and 'action="http://testserver/twilio/voice/confirm"' in twiml  # a retry
    assert twiml.rstrip().endswith("<Hangup /></Response>") and "Aucune touche" in twiml  # the no-input fallback
    assert "1 confirmé, 2 faux, 3 je ne sais pas" in twiml
    [sms] = sms_to(twilio_api, CLA_PHONE)
    incident_ref = re.search(r"K-\d+", sms).group(0)
    assert f"CONFIRM {incident_ref}" in sms and f"FALSE {incident_ref}" in sms and STRANGER not in sms


def test_a_cla_confirms_by_keypad_and_the_senders_trust_rises(kengele, twilio_api, factory, cla):
    post_sms(kengele.client, sms_form(From=STRANGER, Body="Attaque des hommes armés à Bria, 5 morts"))
    kengele.work()
    kengele.send()
    call, _ = confirmation_call(twilio_api)
    answer = press(kengele.client, call, "1")
    assert answer.status_code == 200 and validate_twiml(answer.text) == [] and "enregistrée" in answer.text
    with factory() as session:
        incident = session.scalars(select(Incident)).one()
        sender = session.scalars(select(Reporter).where(Reporter.kind == "villager")).one()
        verification = session.scalars(select(VerificationRequest)).one()
    assert incident.verification == "confirmed" and (verification.answered_by, verification.answered_via) == (
        "cla:CLA Bria",
        "voice",
    )
    assert (sender.confirmed_reports, sender.false_reports) == (1, 0) and sender.trust > 0.5


def test_only_a_cla_can_deny_by_sms(kengele, twilio_api, factory, cla):
    post_sms(kengele.client, sms_form(From=STRANGER, Body="Attaque des hommes armés à Bria, 5 morts"))
    kengele.work()
    with factory() as session:
        ref = session.scalars(select(Incident.ref)).one()
    post_sms(kengele.client, sms_form(From="+23672200555", Body=f"FALSE {ref}"))  # a decoy, not a CLA
    kengele.work()
    with factory() as session:
        assert session.scalars(select(Incident.status)).one() == "escalated"
    post_sms(kengele.client, sms_form(From=CLA_PHONE, Body=f"FALSE {ref}"))
    kengele.work()
    with factory() as session:
        assert session.scalars(select(Incident.status)).one() == "false_alarm"


def test_a_false_alarm_stands_units_down_and_the_senders_next_alert_is_held(kengele, twilio_api, factory, cla):
    # An unknown sender reports an attack: escalation starts at once, marked unverified.
    post_sms(kengele.client, sms_form(From=STRANGER, Body="Attaque des hommes armés à Bria, 5 morts"))
    kengele.work()
    kengele.send()
    with factory() as session:
        incident = session.scalars(select(Incident)).one()
        escalation = session.scalars(select(Escalation)).one()
    alerted = {r.get("To") for r in twilio_api.fake.created("Messages")} - {CLA_PHONE}
    assert alerted and all(
        "non vérifié" in body
        for to, body in ((r.get("To"), r.get("Body")) for r in twilio_api.fake.created("Messages"))
        if to in alerted
    )
    # The CLA presses 2: a false alarm.
    call, _ = confirmation_call(twilio_api)
    press(kengele.client, call, "2")
    kengele.send()
    with factory() as session:
        incident = session.get(Incident, incident.id)
        escalation = session.get(Escalation, escalation.id)
        sender = session.scalars(select(Reporter).where(Reporter.kind == "villager")).one()
    assert (incident.status, incident.verification, escalation.state) == ("false_alarm", "false", "stood_down")
    for number in alerted:  # every unit already told is told to stand down
        assert "FAUSSE ALERTE" in sms_to(twilio_api, number)[-1]
    assert sender.false_reports == 1 and sender.trust < 0.4
    assert kengele.fire(later(escalation.started_at, 86400)) == 0  # no deadline left to wake anyone
    # The same sender's next alert waits for the CLA, and operators see why.
    seen = len(twilio_api.fake.created("Messages"))
    post_sms(kengele.client, sms_form(From=STRANGER, Body="Attaque à Ngoubi maintenant, 8 morts"))
    kengele.work()
    kengele.send()
    with factory() as session:
        held = session.scalars(select(Incident).where(Incident.id != incident.id)).one()
        assert session.scalars(select(Escalation).where(Escalation.incident_id == held.id)).first() is None
        [reason] = session.scalars(select(IncidentEvent.data).where(IncidentEvent.incident_id == held.id,
                                                                     IncidentEvent.kind == "held")).all()  # fmt: skip
    assert "proved false 1 time" in reason["reason"]
    new = [r.get("To") for r in twilio_api.fake.created("Messages")[seen:]]
    assert new == [CLA_PHONE]  # only the CLA hears of it: no unit is woken for a distrusted sender


def test_a_held_alert_escalates_anyway_when_no_cla_answers_in_time(kengele, twilio_api, factory, vault, cla):
    register_reporter(factory, vault, STRANGER, false_reports=2, trust=0.25)
    post_sms(kengele.client, sms_form(From=STRANGER, Body="Attaque des hommes armés à Bria, 5 morts"))
    kengele.work()
    with factory() as session:
        assert session.scalars(select(Escalation)).first() is None
    kengele.fire(later(later_now(), 21 * 60))  # past the hold
    with factory() as session:
        kinds = session.scalars(select(IncidentEvent.kind)).all()
        assert session.scalars(select(Escalation)).one().state == "active"
    assert "hold_expired" in kinds


def later_now():
    from app.core.clock import utcnow

    return utcnow()


def test_a_sango_speaking_cla_hears_the_recording_when_one_is_configured(kengele, twilio_api, factory, vault):
    from dataclasses import replace

    from app.notify import tasks as notify_tasks

    with transaction(factory) as session:
        service.register_cla(session=session, vault=vault, name="CLA Bria", phone=CLA_PHONE, default_region="CF",
                             area=service.Area("Bria", *BRIA, 40.0), languages=["sg", "fr"], schedule=[])  # fmt: skip
    post_sms(kengele.client, sms_form(From=STRANGER, Body="Attaque des hommes armés à Bria, 5 morts"))
    kengele.work()
    config = replace(kengele.send_settings, voice_prompts_url="https://alerts.example.org/prompts")
    notify_tasks.send_due(factory=factory, vault=vault, channels=kengele.channels, config=config)
    _, spoken = confirmation_call(twilio_api)
    assert validate_twiml(spoken) == []
    assert "<Play>https://alerts.example.org/prompts/sg/confirm.mp3</Play>" in spoken and "<Say" not in spoken


def test_operators_see_each_reporters_trust_on_the_incident(kengele, twilio_api, factory, vault, cla):
    register_reporter(factory, vault, STRANGER, false_reports=1, trust=0.333)
    post_sms(kengele.client, sms_form(From=STRANGER, Body="Attaque des hommes armés à Bria, 5 morts"))
    post_sms(kengele.client, sms_form(From=VILLAGER, Body="Attaque à Bria, 6 morts"))
    kengele.work()
    viewer = token_for(kengele.client, factory, "viewer")
    [incident] = kengele.client.get("/api/v1/incidents", headers=viewer).json()["items"]
    reports = kengele.client.get(f"/api/v1/incidents/{incident['ref']}", headers=viewer).json()["reports"]
    assert sorted(r["reporter_trust"] for r in reports) == [0.333, 0.5]  # a known liar, and a newcomer
