"""/healthz, /readyz and /metrics."""

from __future__ import annotations

from datetime import timedelta

from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select

from tests.helpers import post_sms, sms_form


def test_healthz(client):
    assert client.get("/healthz").json() == {"status": "ok"}


def test_readyz_is_ok_on_a_migrated_database(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["migrations_current"] is True


def test_readyz_is_503_when_migrations_are_missing(make_database, make_client):
    unmigrated = make_client(database_url=make_database(migrated=False))
    response = unmigrated.get("/readyz")
    assert response.status_code == 503
    assert response.json()["migration"] is None


def test_readyz_is_503_when_the_database_is_unreachable(make_client, backend):
    url = "sqlite:////nonexistent-dir/x.db" if backend == "sqlite" else "postgresql+psycopg://postgres@127.0.0.1:1/x"
    response = make_client(database_url=url).get("/readyz")
    assert response.status_code == 503
    assert response.json()["status"] == "unavailable"


def _sample(text: str, name: str, labels: dict[str, str] | None = None) -> float:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and (labels is None or all(sample.labels.get(k) == v for k, v in labels.items())):
                return sample.value
    return 0.0


def test_metrics_count_accepted_duplicates_rejections_and_latency(client):
    before = client.get("/metrics").text
    form = sms_form()
    post_sms(client, form)
    post_sms(client, form)
    post_sms(client, sms_form(), signature="forged")
    after = client.get("/metrics").text

    def delta(name, labels=None):
        return _sample(after, name, labels) - _sample(before, name, labels)

    assert delta("kengele_messages_accepted_total", {"channel": "sms"}) == 1
    assert delta("kengele_messages_duplicate_total", {"channel": "sms"}) == 1
    assert delta("kengele_signatures_rejected_total", {"channel": "sms"}) == 1
    assert delta("kengele_intake_latency_seconds_count", {"channel": "sms"}) == 2
    assert "kengele_spool_depth" in after
    assert "+23675123456" not in after


def _age_work(client, seconds: int) -> None:
    """One due item per worker role, each fallen due `seconds` ago: an SMS, a deadline and a reply to its sender."""
    from sqlalchemy import update

    from app.core.clock import utcnow
    from app.core.db import transaction
    from app.escalation.models import Timer
    from app.intake.models import InboundMessage
    from app.notify import service as notify_service
    from app.reporters.models import Reporter
    from tests.helpers import register_reporter

    assert post_sms(client, sms_form()).status_code == 200
    factory, vault = client.app.state.sessionmaker, client.app.state.vault
    register_reporter(factory, vault, "+23675000123")
    due = utcnow() - timedelta(seconds=seconds)
    with transaction(factory) as session:
        session.execute(update(InboundMessage).values(next_attempt_at=due))
        session.add(Timer(key="test:overdue", kind="ack_deadline", subject_id=1, due_at=due))
        reporter_id = session.scalars(select(Reporter.id)).first()
        notify_service.enqueue(session=session, key="test:overdue", purpose="reporter_update", channel="sms",
                               masked="+236…123", text="ok", now=due, reporter_id=reporter_id)  # fmt: skip


def test_readyz_and_metrics_say_how_late_each_worker_role_is(client):
    idle = client.get("/readyz").json()["overdue_seconds"]
    assert idle == {"inbox": 0.0, "timers": 0.0, "outbox": 0.0}

    _age_work(client, seconds=300)  # no worker runs in tests: as when no process has a role

    ready = client.get("/readyz")
    assert ready.status_code == 200  # reported, not a reason to leave the load balancer
    assert all(300 <= seconds < 360 for seconds in ready.json()["overdue_seconds"].values())
    scraped = client.get("/metrics").text
    for role in ("inbox", "timers", "outbox"):
        assert 300 <= _sample(scraped, "kengele_work_overdue_seconds", {"role": role}) < 360


def test_work_that_is_not_due_yet_is_not_overdue(client):
    from app.core.clock import utcnow
    from app.core.db import transaction
    from app.escalation.models import Timer

    with transaction(client.app.state.sessionmaker) as session:
        session.add(Timer(key="test:later", kind="ack_deadline", subject_id=1, due_at=utcnow() + timedelta(minutes=5)))
    assert client.get("/readyz").json()["overdue_seconds"]["timers"] == 0.0
