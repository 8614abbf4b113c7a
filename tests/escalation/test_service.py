"""Escalation rules on the demo deployment: who may acknowledge, positions, the last level, closing, priority."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from app.core.db import transaction
from app.escalation.models import Escalation
from app.incidents import service as incidents
from app.incidents.models import Incident, IncidentEvent
from app.units.models import Unit
from tests.deployment import later, unit_numbers
from tests.helpers import post_sms, sms_form

VILLAGER = "+23672110002"
ATTACK = "Attaque des hommes armés à Ngoubi, 6 morts"


def start_attack(kengele, factory, body: str = ATTACK) -> tuple[Incident, Escalation]:
    post_sms(kengele.client, sms_form(From=VILLAGER, Body=body))
    kengele.work()
    kengele.send()
    with factory() as session:
        incident = session.scalars(select(Incident)).one()
        return incident, session.scalars(select(Escalation)).one()


def current(factory) -> tuple[Incident, Escalation]:
    with factory() as session:
        return session.scalars(select(Incident)).one(), session.scalars(select(Escalation)).one()


def test_an_ack_from_a_number_that_is_no_units_changes_nothing(kengele, factory):
    incident, _ = start_attack(kengele, factory)
    post_sms(kengele.client, sms_form(From="+23672999999", Body=f"ACK {incident.ref}"))  # a villager, or a decoy
    kengele.work()
    incident, escalation = current(factory)
    assert incident.status == "escalated" and escalation.state == "active"


def test_a_patrol_reports_its_position_by_sms(kengele, factory, vault):
    number = unit_numbers(factory, vault, "Patrol Bria-Ippy")["Patrol Bria-Ippy"]
    post_sms(kengele.client, sms_form(From=number, Body="POS 6.3012 21.4567"))
    post_sms(kengele.client, sms_form(From="+23672999998", Body="POS 4.0 18.0"))  # not a unit: ignored
    kengele.work()
    with factory() as session:
        patrol = session.scalars(select(Unit).where(Unit.name == "Patrol Bria-Ippy")).one()
        assert (patrol.lat, patrol.lon) == (6.3012, 21.4567)
        assert session.scalars(select(Unit).where(Unit.lat == 4.0)).all() == []


def test_after_the_last_level_the_joc_is_woken_again_and_again(kengele, twilio_api, factory, vault):
    _, escalation = start_attack(kengele, factory)
    joc = unit_numbers(factory, vault, "JOC Bangui")["JOC Bangui"]
    clock = escalation.started_at
    for _ in range(12):  # far past the last level
        clock = later(clock, 3600)
        kengele.fire(clock)
        kengele.send(at=clock)
    to_joc = [r for r in twilio_api.fake.created("Messages") if r.get("To") == joc]
    assert len(to_joc) >= 5
    assert current(factory)[1].state == "active"


def test_resolving_the_incident_stops_the_next_deadline_from_waking_anyone(kengele, twilio_api, factory):
    incident, escalation = start_attack(kengele, factory)
    with transaction(factory) as session:
        incidents.set_status(session=session, ref=incident.ref, status="resolved", actor="op.amina")
    seen = len(twilio_api.fake.created("Messages"))
    clock = later(escalation.started_at, 3600)
    assert kengele.fire(clock) == 1
    assert kengele.send(at=clock) == 0 and len(twilio_api.fake.created("Messages")) == seen
    assert current(factory)[1].state == "resolved"


def test_an_incident_without_a_place_goes_straight_to_the_joc(kengele, twilio_api, factory, vault):
    _, escalation = start_attack(kengele, factory, "Des hommes armés attaquent le village, 3 morts")
    assert escalation.ranking == [] and escalation.level == 3  # the levels with nobody to tell passed at once
    joc = unit_numbers(factory, vault, "JOC Bangui")["JOC Bangui"]
    assert {r.get("To") for r in twilio_api.fake.created("Messages")} == {joc}


def test_more_witnesses_raise_the_priority_and_the_timeline_says_why(kengele, factory):
    incident, _ = start_attack(kengele, factory, "Des hommes armés à Ngoubi, on a peur")
    for i in range(3):
        post_sms(
            kengele.client, sms_form(From=f"+2367211001{i}", Body=f"Attaque à Ngoubi, {6 + i} morts, maisons brûlées")
        )
    kengele.work()
    raised, escalation_now = current(factory)
    assert raised.priority < incident.priority  # "P1" < "P2" < …: a smaller number is more urgent
    assert escalation_now.priority == raised.priority
    with factory() as session:
        changes = session.scalars(select(IncidentEvent.data).where(IncidentEvent.kind == "priority")).all()
    assert changes and changes[-1]["to"] == raised.priority and changes[-1]["reasons"]


def test_deadlines_fire_once_however_many_times_the_clock_is_read(kengele, factory):
    _, escalation = start_attack(kengele, factory)
    due = later(escalation.started_at, 86400)
    assert kengele.fire(due) == 1
    assert kengele.fire(due) == 0  # fired: the next deadline counts from this firing, so it is not due yet
    assert kengele.fire(due + timedelta(hours=1)) == 1
