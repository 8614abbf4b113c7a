"""The outbox on a real database and the real Twilio SDK against the fake Twilio: sent once, retried only when
worth it, never re-sent blindly, and statuses that only move forward."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete, event, select

from app.core.clock import utcnow
from app.core.db import transaction
from app.notify import service
from app.notify.models import Notification
from app.security.signatures import sign_twilio
from app.units.models import Unit, UnitContact
from tests.conftest import TWILIO_ACCOUNT, TWILIO_TOKEN

STATUS_URL = "http://testserver/twilio/status"


def queue_to(
    factory, unit_name: str, key: str = "test:1", channel: str = "sms", purpose: str = "alert", at=None
) -> int:
    """Queue one message to a demo unit's contact (due at `at`, else now); returns the notification id."""
    with transaction(factory) as session:
        contact = session.scalars(
            select(UnitContact).join(Unit, Unit.id == UnitContact.unit_id)
            .where(Unit.name == unit_name, UnitContact.channel == channel)
        ).one()  # fmt: skip
        service.enqueue(session=session, key=key, purpose=purpose, channel=channel, masked=contact.address_masked,
                        text="KENGELE test alert", now=at or utcnow(), contact_id=contact.id, unit_id=contact.unit_id,
                        validity_s=600)  # fmt: skip
        return session.scalars(select(Notification.id).where(Notification.key == key)).one()


def row(factory, notification_id: int) -> Notification:
    with factory() as session:
        return session.get(Notification, notification_id)


def test_a_message_is_sent_once_however_often_the_worker_runs(kengele, twilio_api, factory):
    first = queue_to(factory, "Bria COB")
    with transaction(factory) as session:  # writing the same intent twice is a no-op
        again = service.enqueue(session=session, key="test:1", purpose="alert", channel="sms", masked="x",
                                text="x", now=utcnow(), contact_id=row(factory, first).contact_id)  # fmt: skip
    assert again is False
    assert kengele.send() == 1 and kengele.send() == 0
    sent = row(factory, first)
    assert (sent.state, sent.provider_status) == ("sent", "queued") and sent.provider_id.startswith("SM")
    assert len(twilio_api.fake.created("Messages")) == 1


def test_alert_sms_go_first_then_alert_calls_then_the_rest_whatever_their_age(kengele, factory):
    oldest = utcnow() - timedelta(minutes=5)
    queued = [
        queue_to(factory, "Bria COB", "test:confirm", "sms", "confirm", at=oldest),
        queue_to(factory, "Bria COB", "test:call", "voice", "alert", at=oldest + timedelta(minutes=1)),
        queue_to(factory, "Bria COB", "test:stand-down", "sms", "stand_down", at=oldest + timedelta(minutes=2)),
        queue_to(factory, "Bria COB", "test:alert", "sms", "alert", at=oldest + timedelta(minutes=3)),
    ]
    with transaction(factory) as session:
        claimed = [service.claim_due(session=session, now=utcnow(), limit=1)[0].id for _ in queued]
    confirm, call, stand_down, alert = queued
    assert claimed == [stand_down, alert, call, confirm]  # urgent texts oldest first, then the call, then the rest


def test_each_message_sent_costs_one_transaction_recording_one_and_claiming_the_next(kengele, twilio_api, factory):
    ids = [queue_to(factory, "Bria COB", f"test:{n}") for n in range(3)]
    commits = []

    def committed(session) -> None:
        commits.append(session)

    event.listen(factory, "after_commit", committed)
    try:
        assert kengele.send() == 3
    finally:
        event.remove(factory, "after_commit", committed)
    # One per message and one that records the last and finds nothing more (a separate record would make it 7).
    assert len(commits) == 3 + 1 + 1  # kengele.send() calls send_due again until it finds nothing: one more
    assert {row(factory, i).state for i in ids} == {"sent"} and len(twilio_api.fake.created("Messages")) == 3


def test_a_transient_twilio_error_is_retried_with_backoff(kengele, twilio_api, factory):
    notification = queue_to(factory, "Bria COB")
    twilio_api.fake.fail_next(1, status=503)
    now = utcnow()
    kengele.send(at=now)
    waiting = row(factory, notification)
    assert (waiting.state, waiting.attempts, waiting.error_code) == ("pending", 1, "20503")
    assert waiting.next_attempt_at == now + timedelta(seconds=1)  # the schedule's first step
    assert kengele.send(at=now) == 0  # not due yet
    kengele.send(at=now + timedelta(seconds=1))
    assert row(factory, notification).state == "sent" and len(twilio_api.fake.created("Messages")) == 1


def test_a_permanent_twilio_error_fails_at_once_without_the_number_in_the_record(kengele, twilio_api, factory, vault):
    notification = queue_to(factory, "Bria COB")
    with factory() as session:
        number = vault.decrypt(session.get(UnitContact, row(factory, notification).contact_id).address_encrypted)
    twilio_api.fake.fail_number(number, 400, 21211, "The 'To' number {to} is not a valid phone number.")
    kengele.send()
    failed = row(factory, notification)
    assert (failed.state, failed.attempts, failed.error_code) == ("failed", 1, "21211")
    assert number not in (failed.error_detail or "") and number[-6:] not in (failed.error_detail or "")
    assert kengele.send(at=utcnow() + timedelta(hours=1)) == 0


def test_retries_stop_after_the_last_attempt(kengele, twilio_api, factory):
    notification = queue_to(factory, "Bria COB")
    twilio_api.fake.fail_next(10, status=429)
    at = utcnow()
    for _ in range(kengele.send_settings.max_attempts):
        kengele.send(at=at)
        at += timedelta(seconds=10)
    failed = row(factory, notification)
    assert (failed.state, failed.attempts) == ("failed", kengele.send_settings.max_attempts)


def test_a_worker_that_died_mid_send_never_causes_a_second_send(kengele, twilio_api, factory):
    notification = queue_to(factory, "Bria COB")
    with transaction(factory) as session:  # claimed and marked sending, then the worker vanished
        service.claim_due(session=session, now=utcnow(), limit=10)
    assert kengele.send(at=utcnow() + service.SENDING_STALE + timedelta(seconds=1)) == 0
    lost = row(factory, notification)
    assert (lost.state, lost.error_code) == ("unknown", "worker_lost")
    assert twilio_api.fake.created("Messages") == []


def test_a_deleted_contact_fails_the_message_instead_of_guessing(kengele, twilio_api, factory):
    notification = queue_to(factory, "Bria COB")
    with transaction(factory) as session:
        session.execute(delete(UnitContact).where(UnitContact.id == session.get(Notification, notification).contact_id))
    kengele.send()
    assert row(factory, notification).error_code == "no_address" and twilio_api.fake.requests == []


def post_status(client, params: dict[str, str], token: str = TWILIO_TOKEN):
    signature = sign_twilio(auth_token=token, url=STATUS_URL, params=params)
    return client.post(STATUS_URL, data=params, headers={"X-Twilio-Signature": signature})


def test_status_callbacks_move_forward_only_whatever_order_they_arrive_in(kengele, twilio_api, factory):
    notification = queue_to(factory, "Bria COB")
    kengele.send()
    sid = row(factory, notification).provider_id
    for status in ("delivered", "sent", "sending", "queued"):  # the last three arrive late
        params = twilio_api.fake.status_params(sid, status) | {"AccountSid": TWILIO_ACCOUNT}
        assert post_status(kengele.client, params).status_code == 204
    assert row(factory, notification).provider_status == "delivered"


def test_a_failed_delivery_is_recorded_with_twilios_error_code(kengele, twilio_api, factory):
    notification = queue_to(factory, "Bria COB")
    kengele.send()
    params = twilio_api.fake.status_params(row(factory, notification).provider_id, "undelivered", error_code=30003)
    post_status(kengele.client, params | {"AccountSid": TWILIO_ACCOUNT})
    undelivered = row(factory, notification)
    assert (undelivered.provider_status, undelivered.error_code) == ("undelivered", "30003")


def test_status_callbacks_must_be_signed_by_twilio(kengele, twilio_api, factory):
    notification = queue_to(factory, "Bria COB")
    kengele.send()
    params = twilio_api.fake.status_params(row(factory, notification).provider_id, "delivered")
    params |= {"AccountSid": TWILIO_ACCOUNT}
    assert post_status(kengele.client, params, token="not-the-token").status_code == 403
    assert kengele.client.post(STATUS_URL, data=params).status_code == 403
    assert row(factory, notification).provider_status == "queued"
