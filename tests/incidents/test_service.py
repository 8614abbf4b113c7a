"""Incidents on a real database: clustering through the worker, repeats, references, operator actions."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select

from app.core.db import transaction
from app.feed import events as feed
from app.incidents import service
from app.incidents.models import Incident, IncidentEvent, Report
from app.intake import tasks
from app.intake.flows import IntakeGateway
from app.intake.schemas import InboundEnvelope
from app.intake.spool import Spool
from app.understanding.tasks import parsers
from tests.conftest import DEMO_PLACES
from tests.helpers import new_sid


@pytest.fixture
def gateway(factory, vault, tmp_path):
    from app.geo.importers import import_places_csv

    with transaction(factory) as session:
        import_places_csv(session=session, path=DEMO_PLACES)
    parsers.clear()
    gateway = IntakeGateway(factory, vault, Spool(tmp_path))
    yield gateway
    gateway.close()


def send(gateway, body, sender="+23675000001"):
    envelope = InboundEnvelope(
        source="twilio_sms", external_id=new_sid(), channel="sms", body=body, sender_phone=sender
    )
    gateway.accept(envelope)
    return envelope.external_id


def work(factory, vault):
    while tasks.process_due(factory=factory, vault=vault, batch_size=20, retry_schedule=[1]):
        pass


def incidents(factory) -> list[Incident]:
    with factory() as session:
        return list(session.scalars(select(Incident).where(Incident.status != "merged").order_by(Incident.id)))


def test_witnesses_of_one_attack_make_one_incident(gateway, factory, vault):
    send(gateway, "Attaque des seleka a Bambari, 3 morts", "+23675000001")
    send(gateway, "tirs a Bambari maisons brulées", "+23675000002")
    send(gateway, "bato ya mandoki babomi bato na Bambari", "+23675000003")
    work(factory, vault)
    [incident] = incidents(factory)
    assert (incident.report_count, incident.reporter_count) == (3, 3)
    assert incident.severity == "extreme" and incident.place == "Bambari"  # the gazetteer name
    assert incident.ref.startswith("K-") and len(incident.ref) == 6
    assert incident.confidence == pytest.approx(0.875)


def test_two_attacks_far_apart_the_same_evening_stay_two(gateway, factory, vault):
    send(gateway, "attaque a Bambari", "+23675000001")
    send(gateway, "attaque a Grimari", "+23675000002")  # about 70 km away
    work(factory, vault)
    assert len(incidents(factory)) == 2


def test_a_sender_repeating_the_same_words_is_not_a_second_witness(gateway, factory, vault):
    send(gateway, "Attaque à Bria maintenant!", "+23675000001")
    send(gateway, "attaque a bria   maintenant", "+23675000001")  # same words, other spacing and accents
    send(gateway, "encore des tirs a Bria", "+23675000001")  # new words from the same sender: a report, not a witness
    work(factory, vault)
    [incident] = incidents(factory)
    assert (incident.report_count, incident.reporter_count) == (2, 1)
    with factory() as session:
        first, repeat, _ = session.scalars(select(Report).order_by(Report.id)).all()
        assert repeat.repeat_of_id == first.id and repeat.incident_id == first.incident_id


def test_quoting_the_reference_joins_the_incident(gateway, factory, vault):
    send(gateway, "attaque a Bambari", "+23675000001")
    work(factory, vault)
    [incident] = incidents(factory)
    send(gateway, f"re {incident.ref}: ils sont partis vers le nord", "+23675000002")
    work(factory, vault)
    [same] = incidents(factory)
    assert same.id == incident.id and same.report_count == 2


def test_calm_reports_and_reply_codes_open_no_incident(gateway, factory, vault):
    send(gateway, "ras tout est calme a Bria")
    send(gateway, "ACK K-4821", "+23675000009")
    work(factory, vault)
    assert incidents(factory) == []


def test_merge_split_and_reject_are_recorded(gateway, factory, vault):
    send(gateway, "attaque a Bambari", "+23675000001")
    send(gateway, "attaque a Grimari", "+23675000002")
    work(factory, vault)
    a, b = incidents(factory)
    with transaction(factory) as session:
        kept = service.merge(session=session, keep_ref=a.ref, absorb_ref=b.ref, actor="op.amina")
        assert kept.report_count == 2 and kept.reporter_count == 2
    with transaction(factory) as session:
        grimari = session.scalars(select(Report).where(Report.body.like("%Grimari%"))).one()
        split_off = service.split(session=session, ref=a.ref, report_ids=[grimari.id], actor="op.amina")
        split_ref = split_off.ref
    assert {i.ref for i in incidents(factory)} == {a.ref, split_ref}
    with transaction(factory) as session:
        incident = service.reject_report(session=session, report_id=grimari.id, actor="op.amina", reason="decoy")
        assert incident.status == "false_alarm" and incident.report_count == 0
    with factory() as session:
        kinds = session.scalars(
            select(IncidentEvent.kind).where(IncidentEvent.incident_id == a.id).order_by(IncidentEvent.id)
        ).all()
        actors = set(session.scalars(select(IncidentEvent.actor).where(IncidentEvent.kind != "created")))
    operators = ("created", "merged", "split", "report_rejected")
    assert [k for k in kinds if k in operators] == ["created", "merged", "split"]
    assert "op.amina" in actors


def test_operator_actions_refuse_what_makes_no_sense(gateway, factory, vault):
    send(gateway, "attaque a Bambari")
    work(factory, vault)
    [incident] = incidents(factory)
    with transaction(factory) as session, pytest.raises(service.IncidentError, match="no incident"):
        service.set_status(session=session, ref="K-0000", status="resolved", actor="op")
    assert incident.status == "escalated"  # the pipeline started its escalation
    with transaction(factory) as session:
        service.set_status(session=session, ref=incident.ref, status="acknowledged", actor="Base Bria")
        service.set_status(session=session, ref=incident.ref, status="resolved", actor="op")
    with transaction(factory) as session, pytest.raises(service.IncidentError, match="cannot become"):
        service.set_status(session=session, ref=incident.ref, status="responding", actor="op")
    with transaction(factory) as session, pytest.raises(service.IncidentError, match="two different open"):
        service.merge(session=session, keep_ref=incident.ref, absorb_ref=incident.ref, actor="op")


def test_feed_events_arrive_after_commit_and_never_for_a_rollback(gateway, factory, vault):
    received: list[feed.FeedEvent] = []
    unsubscribe = feed.subscribe(received.append)
    try:
        send(gateway, "attaque a Bambari")
        work(factory, vault)
        published = [e.kind for e in received]
        assert published[0] == "incident.created" and "incident.escalation_started" in published
        [incident] = incidents(factory)
        with pytest.raises(RuntimeError), transaction(factory) as session:
            service.set_status(session=session, ref=incident.ref, status="acknowledged", actor="op")
            raise RuntimeError("operator's browser went away")
        assert [e.kind for e in received] == published
    finally:
        unsubscribe()


def test_concurrent_workers_make_one_incident_per_event(gateway, factory, vault, backend):
    if backend != "postgresql":
        pytest.skip("SQLite has one writer; the race needs PostgreSQL")
    for i in range(12):
        send(gateway, f"attaque a Bambari {i}", f"+236750001{i:02d}")

    def one_worker():
        while tasks.process_due(factory=factory, vault=vault, batch_size=1, retry_schedule=[1]):
            pass

    workers = [threading.Thread(target=one_worker) for _ in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(60)
    [incident] = incidents(factory)
    assert incident.report_count == 12
    with factory() as session:
        assert session.scalar(select(func.count()).select_from(Report).where(Report.incident_id.is_(None))) == 0


def test_a_ring_report_locates_its_incident_until_a_place_is_named(gateway, factory, vault):
    send(gateway, "A 28 km de Bambari des hommes armés attaquent, 4 morts", "+23675000001")
    work(factory, vault)
    [incident] = incidents(factory)
    assert incident.place == "Bambari" and incident.ring_m == pytest.approx(23_800)
    send(gateway, "Attaque à Awatche, 4 morts", "+23675000002")  # Awatche lies 24 km from Bambari
    work(factory, vault)
    [incident] = incidents(factory)
    assert (incident.report_count, incident.place, incident.ring_m) == (2, "Awatche", None)
    assert (incident.dead_min, incident.dead_max) == (4, 4)


def test_a_well_placed_report_takes_out_ring_reports_whose_toll_it_contradicts(gateway, factory, vault):
    send(gateway, "Attaque à Awatche, 5 morts", "+23675000001")
    send(gateway, "A 28 km de Bambari des hommes armés attaquent, 4 morts", "+23675000002")
    work(factory, vault)
    [incident] = incidents(factory)
    assert incident.report_count == 2  # the circle passes Awatche and the tolls agree
    send(gateway, "Attaque à Awatche, 21 morts", "+23675000003")
    work(factory, vault)
    kept, ejected = incidents(factory)
    assert (kept.report_count, kept.dead_min, kept.dead_max) == (2, 5, 21)
    assert (ejected.report_count, ejected.ring_m) == (1, pytest.approx(23_800))
    with factory() as session:
        kinds = session.scalars(select(IncidentEvent.kind).where(IncidentEvent.incident_id == kept.id)).all()
    assert "split" in kinds
