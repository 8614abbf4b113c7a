"""The inbox worker: rows become reports by id, failures retry, concurrent workers never share a row."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.core.clock import utcnow
from app.core.db import transaction
from app.incidents import pipeline
from app.incidents.models import Report
from app.intake import tasks
from app.intake.flows import IntakeGateway
from app.intake.models import InboundMessage
from app.intake.schemas import InboundEnvelope
from app.intake.spool import Spool
from app.reporters.models import Reporter
from tests.helpers import new_sid

SCHEDULE = [5, 30, 120]


@pytest.fixture
def gateway(factory, vault, tmp_path) -> Iterator[IntakeGateway]:
    gateway = IntakeGateway(factory, vault, Spool(tmp_path / "spool"))
    yield gateway
    gateway.close()


def sms(body: str = "Coups de feu à Ndélé", sender: str = "+23675000001") -> InboundEnvelope:
    return InboundEnvelope(source="twilio_sms", external_id=new_sid(), channel="sms", body=body, sender_phone=sender)


def count(factory, model) -> int:
    with factory() as session:
        return session.scalar(select(func.count()).select_from(model))


def test_rows_become_reports_and_reporters(factory, vault, gateway):
    gateway.accept(sms(sender="+23675000001"))
    gateway.accept(sms(sender="+23675000001", body="encore des tirs"))
    gateway.accept(sms(sender="+23675000002"))

    assert tasks.process_due(factory=factory, vault=vault, batch_size=10, retry_schedule=SCHEDULE) == 3

    with factory() as session:
        reports = session.scalars(select(Report).order_by(Report.id)).all()
        assert [r.body for r in reports] == ["Coups de feu à Ndélé", "encore des tirs", "Coups de feu à Ndélé"]
        assert reports[0].reporter_id == reports[1].reporter_id != reports[2].reporter_id
        reporter = session.get(Reporter, reports[0].reporter_id)
        assert vault.decrypt(reporter.phone_encrypted) == "+23675000001"
        assert reporter.phone_masked == "+236 ••••••01"
        assert session.scalar(select(func.count()).where(InboundMessage.processed_at.is_(None))) == 0
    # Processed rows are not claimed again.
    assert tasks.process_due(factory=factory, vault=vault, batch_size=10, retry_schedule=SCHEDULE) == 0


def test_partner_member_without_phone_is_a_reporter_by_member_id(factory, vault, gateway):
    from app.partners import service as partner_service

    with transaction(factory) as session:
        partner = partner_service.create(session=session, vault=vault, name="Caritas Bossangoa")
    for key in ("a", "b"):
        gateway.accept(
            InboundEnvelope(
                source="partner",
                external_id=f"{partner.partner_id}:{key}",
                channel="partner",
                body="Pillage du marché",
                partner_id=partner.partner_id,
                member_id="member-9",
                language="sg",
                hints={"place_name": "Bossangoa"},
            )
        )
    tasks.process_due(factory=factory, vault=vault, batch_size=10, retry_schedule=SCHEDULE)
    with factory() as session:
        reports = session.scalars(select(Report)).all()
        assert len({r.reporter_id for r in reports}) == 1
        assert reports[0].partner_id == partner.partner_id and reports[0].hints == {"place_name": "Bossangoa"}
        reporter = session.get(Reporter, reports[0].reporter_id)
        assert (reporter.kind, reporter.language, reporter.phone_encrypted) == ("partner_member", "sg", None)


def test_a_failing_row_is_retried_later_and_does_not_block_others(factory, vault, gateway, monkeypatch):
    def explode_on_poison(session, report):
        if report.body == "poison":
            raise RuntimeError("step failed for +23675000001")

    monkeypatch.setattr(pipeline, "REPORT_STEPS", [explode_on_poison])
    gateway.accept(sms(body="poison"))
    gateway.accept(sms(body="fine"))

    before = utcnow()
    tasks.process_due(factory=factory, vault=vault, batch_size=10, retry_schedule=SCHEDULE)

    with factory() as session:
        assert [r.body for r in session.scalars(select(Report))] == ["fine"]
        poisoned = session.scalars(select(InboundMessage).where(InboundMessage.processed_at.is_(None))).one()
        assert poisoned.attempts == 1
        assert poisoned.last_error == "RuntimeError"  # the class only: the text could hold personal data
        assert poisoned.next_attempt_at >= before + timedelta(seconds=SCHEDULE[0])
    # Not due yet: nothing is claimed.
    assert tasks.process_due(factory=factory, vault=vault, batch_size=10, retry_schedule=SCHEDULE) == 0

    monkeypatch.setattr(pipeline, "REPORT_STEPS", [])
    with transaction(factory) as session:
        for row in session.scalars(select(InboundMessage)):
            row.next_attempt_at = min(row.next_attempt_at, utcnow())
    tasks.process_due(factory=factory, vault=vault, batch_size=10, retry_schedule=SCHEDULE)
    assert count(factory, Report) == 2


def test_pipeline_steps_run_in_order_on_each_new_report(factory, vault, gateway, monkeypatch):
    seen: list[tuple[str, str]] = []
    steps = [lambda s, r: seen.append(("understand", r.body)), lambda s, r: seen.append(("locate", r.body))]
    monkeypatch.setattr(pipeline, "REPORT_STEPS", steps)
    gateway.accept(sms(body="un"))
    tasks.process_due(factory=factory, vault=vault, batch_size=10, retry_schedule=SCHEDULE)
    assert seen == [("understand", "un"), ("locate", "un")]


def test_concurrent_workers_never_process_the_same_row(factory, vault, gateway, backend, monkeypatch):
    calls: Counter[int] = Counter()
    lock = threading.Lock()

    def record(session, report):
        with lock:
            calls[report.inbound_message_id] += 1

    monkeypatch.setattr(pipeline, "REPORT_STEPS", [record])
    total = 120
    for i in range(total):
        gateway.accept(sms(body=f"message {i}", sender=f"+2367500{i:04d}"))

    def work():
        while tasks.process_due(factory=factory, vault=vault, batch_size=7, retry_schedule=SCHEDULE):
            pass

    workers = [threading.Thread(target=work) for _ in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(60)

    assert count(factory, Report) == total
    assert len(calls) == total and set(calls.values()) == {1}
    with factory() as session:
        # No worker collided with another (a collision would show as a failed, retried attempt).
        assert session.scalar(select(func.max(InboundMessage.attempts))) == 0
