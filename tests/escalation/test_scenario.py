"""The demo deployment end to end: an SMS about an attack reaches the best unit's phone at the fake Twilio,
escalates on the policy's clock until a unit answers ACK, and the villager hears back in neutral words."""

from __future__ import annotations

import re

from sqlalchemy import select

from app.escalation import tasks as escalation_tasks
from app.escalation.models import Escalation, Timer
from app.incidents.models import Incident
from app.notify.models import Notification
from app.notify.twiml import validate_twiml
from tests.deployment import later, unit_numbers
from tests.helpers import post_sms, sms_form

VILLAGER = "+23672110001"


def sent_sms(twilio_api, since: int = 0) -> list[tuple[str, str]]:
    """(To, Body) of every SMS the fake accepted, after the first `since`."""
    return [(r.get("To"), r.get("Body")) for r in twilio_api.fake.created("Messages")[since:]]


def escalation_of(factory) -> tuple[Incident, Escalation]:
    with factory() as session:
        incident = session.scalars(select(Incident)).one()
        return incident, session.scalars(select(Escalation).where(Escalation.incident_id == incident.id)).one()


def test_an_attack_escalates_unit_by_unit_until_a_unit_acknowledges(kengele, twilio_api, factory, vault):
    reply = post_sms(kengele.client, sms_form(From=VILLAGER, Body="Attaque des hommes armés à Ngoubi, 6 morts"))
    receipt_ref = re.search(r"r[ée]f\.? ([0-9A-Z]{6})", reply.text).group(1)  # the receipt, in the TwiML reply
    kengele.work()
    incident, escalation = escalation_of(factory)
    start = escalation.started_at
    levels = escalation_tasks.config().policy.levels[escalation.priority]
    ranked = [r["name"] for r in escalation.ranking]
    assert incident.status == "escalated" and incident.place == "Ngoubi" and escalation.priority in ("P1", "P2")
    assert ranked[0] in ("Bria COB", "FPU Bria")  # 15 km away by road; the next base is Ippy's, 100 km
    numbers = unit_numbers(factory, vault, *ranked[:4], "Sector East HQ", "JOC Bangui")

    # Level 1: the best-ranked unit(s), by SMS and voice call, at once.
    kengele.send(at=start)
    first = ranked[: levels[0].count]
    assert {to for to, _ in sent_sms(twilio_api)} == {numbers[name] for name in first}
    assert all(incident.ref in body and f"ACK {incident.ref}" in body for _, body in sent_sms(twilio_api))
    [message] = twilio_api.fake.created("Messages")[:1]
    assert message.get("ValidityPeriod") == "600" and message.get("StatusCallback") == "http://testserver/twilio/status"
    calls = twilio_api.fake.created("Calls")
    assert {c.get("To") for c in calls} == {numbers[name] for name in first}
    assert validate_twiml(calls[0].get("Twiml")) == [] and "Gather" in calls[0].get("Twiml")

    # Nobody answers: the policy's clock, not the wall clock, moves the escalation on.
    clock, seen = start, len(sent_sms(twilio_api))
    assert kengele.fire(later(start, levels[0].ack_timeout_s - 1)) == 0  # not yet due
    for _ in range(levels[0].repeats):  # the same units again
        clock = later(clock, levels[0].ack_timeout_s)
        assert kengele.fire(clock) == 1
        kengele.send(at=clock)
        assert {to for to, _ in sent_sms(twilio_api, seen)} == {numbers[name] for name in first}
        seen = len(sent_sms(twilio_api))
    clock = later(clock, levels[0].ack_timeout_s)
    kengele.fire(clock)
    kengele.send(at=clock)
    next_unit = ranked[levels[0].count]
    assert {to for to, _ in sent_sms(twilio_api, seen)} == {numbers[next_unit]}  # level 2: the next unit
    seen = len(sent_sms(twilio_api))
    for _ in range(levels[1].repeats + 1):
        clock = later(clock, levels[1].ack_timeout_s)
        kengele.fire(clock)
    kengele.send(at=clock)
    assert {to for to, _ in sent_sms(twilio_api, seen)} == {numbers["Sector East HQ"]}  # level 3: the sector HQ

    # The sector HQ answers ACK: notifications stop, the incident is acknowledged, the villager is told.
    seen = len(sent_sms(twilio_api))
    post_sms(kengele.client, sms_form(From=numbers["Sector East HQ"], Body=f"ACK {incident.ref}"))
    kengele.work()
    kengele.send(at=clock)
    incident, escalation = escalation_of(factory)
    assert incident.status == "acknowledged" and escalation.acknowledged_by == "Sector East HQ"
    [(to, update)] = sent_sms(twilio_api, seen)
    assert to == VILLAGER and receipt_ref in update and "Casques bleus" in update
    assert "Bria" not in update and "HQ" not in update  # never a unit, a place of a unit, or a time

    for hours in (1, 6, 24):  # no further alert, ever
        assert kengele.fire(later(clock, hours * 3600)) == 0
    assert kengele.send(at=later(clock, 86400)) == 0
    with factory() as session:
        assert not session.scalars(select(Timer).where(Timer.fired_at.is_(None), Timer.canceled_at.is_(None))).all()
        keys = session.scalars(select(Notification.key)).all()
    assert len(keys) == len(set(keys))


def test_a_unit_presses_1_on_the_alert_call_to_acknowledge(kengele, twilio_api, factory, vault):
    from app.security.signatures import sign_twilio
    from tests.conftest import TWILIO_ACCOUNT, TWILIO_TOKEN

    post_sms(kengele.client, sms_form(From=VILLAGER, Body="Attaque des hommes armés à Ngoubi, 6 morts"))
    kengele.work()
    kengele.send()
    call = twilio_api.fake.created("Calls")[0]
    action = re.search(r'action="([^"]+)"', call.get("Twiml")).group(1)
    form = {"CallSid": call.sid, "Digits": "1", "AccountSid": TWILIO_ACCOUNT}
    answer = kengele.client.post(
        action, data=form, headers={"X-Twilio-Signature": sign_twilio(auth_token=TWILIO_TOKEN, url=action, params=form)}
    )
    assert answer.status_code == 200 and validate_twiml(answer.text) == [] and "<Hangup" in answer.text
    incident, escalation = escalation_of(factory)
    assert incident.status == "acknowledged" and escalation.state == "acknowledged"
    assert escalation.acknowledged_by in ("Bria COB", "FPU Bria")
