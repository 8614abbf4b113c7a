"""Twilio's copies of what reporters sent and were sent are deleted through the real SDK (against the fake Twilio)
once Kengele has its own: never before the message is processed or finished, never a unit's alert, retried when
Twilio is down, given up when Twilio refuses, and logged without a number."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from sqlalchemy import select

from app.core.clock import utcnow
from app.core.db import transaction
from app.intake.models import InboundMessage
from app.notify import service as outbox
from app.notify.models import Notification
from app.notify.twilio_channel import TwilioCopies
from app.reporters.models import Reporter
from app.retention import provider_copies, tasks
from tests.helpers import post_sms, sms_form
from tests.notify.test_outbox import post_status, queue_to

REPORTER = "+23672200411"
HOUR = timedelta(hours=1)


@pytest.fixture
def copies(twilio_api):
    twilio_copies = TwilioCopies(twilio_api.twilio_config())
    yield twilio_copies
    twilio_copies.close()


def erase(factory, copies, *, after=HOUR, at=None) -> int:
    moment = at or utcnow() + 2 * HOUR
    return tasks.erase_provider_copies(factory=factory, copies=copies, after=after, clock=lambda: moment)


def inbound(kengele, twilio_api, *, process: bool = True) -> str:
    """An SMS from the reporter as Twilio delivers it (and keeps it); its MessageSid."""
    form = sms_form(From=REPORTER, Body="Bonjour, merci pour votre travail")  # no incident, no alert
    assert post_sms(kengele.client, form).status_code == 200
    twilio_api.fake.inbound.add(form["MessageSid"])
    if process:
        kengele.work()
    return form["MessageSid"]


def deleted_at(factory, model, column, value):
    with factory() as session:
        return session.scalars(select(model.provider_deleted_at).where(column == value)).one()


def test_twilio_forgets_an_inbound_sms_once_kengele_has_processed_it(kengele, twilio_api, factory, copies, caplog):
    processed = inbound(kengele, twilio_api)
    waiting = inbound(kengele, twilio_api, process=False)
    assert erase(factory, copies, at=utcnow()) == 0  # not an hour old yet
    with caplog.at_level(logging.INFO, logger="app.retention.tasks"):
        assert erase(factory, copies) == 1
    assert twilio_api.fake.deleted("Messages") == [processed]
    assert deleted_at(factory, InboundMessage, InboundMessage.external_id, processed) is not None
    assert deleted_at(factory, InboundMessage, InboundMessage.external_id, waiting) is None  # not processed yet
    assert erase(factory, copies) == 0 and twilio_api.fake.deleted("Messages") == [processed]  # once
    assert "provider copies deleted: 1" in caplog.text and REPORTER[-8:] not in caplog.text


def to_the_reporter(factory, key: str = "update:test") -> int:
    with transaction(factory) as session:
        reporter = session.scalars(select(Reporter)).one()
        outbox.enqueue(session=session, key=key, purpose="reporter_update", channel="sms",
                       masked=reporter.phone_masked, text="Votre alerte a été transmise. Merci.", now=utcnow(),
                       reporter_id=reporter.id)  # fmt: skip
        return session.scalars(select(Notification.id).where(Notification.key == key)).one()


def test_a_message_to_a_reporter_goes_once_delivered_and_a_units_alert_stays(kengele, twilio_api, factory, copies):
    inbound(kengele, twilio_api)
    update = to_the_reporter(factory)
    alert = queue_to(factory, "Bria COB")
    assert kengele.send() >= 2
    with factory() as session:
        sids = {n.id: n.provider_id for n in session.scalars(select(Notification))}
    erase(factory, copies)
    assert sids[update] not in twilio_api.fake.deleted("Messages")  # still "queued": Twilio would refuse
    params = twilio_api.fake.status_params(sids[update], "delivered")
    assert post_status(kengele.client, params).status_code == 204
    erase(factory, copies)
    assert sids[update] in twilio_api.fake.deleted("Messages")
    assert deleted_at(factory, Notification, Notification.id, update) is not None
    # Staff numbers: the unit's alert stays at Twilio (delivery evidence), whatever its age.
    erase(factory, copies, at=utcnow() + timedelta(days=3))
    assert sids[alert] not in twilio_api.fake.deleted("Messages")
    assert twilio_api.fake.resource(sids[alert])["sid"] == sids[alert]


def test_a_message_whose_final_status_never_came_is_deleted_a_day_later(kengele, twilio_api, factory, copies):
    inbound(kengele, twilio_api)
    update = to_the_reporter(factory)
    kengele.send()
    erase(factory, copies)
    assert deleted_at(factory, Notification, Notification.id, update) is None
    erase(factory, copies, at=utcnow() + provider_copies.UNCONFIRMED_WAIT + HOUR)
    assert deleted_at(factory, Notification, Notification.id, update) is not None


def attempts(factory, sid: str) -> int:
    with factory() as session:
        return session.scalars(
            select(InboundMessage.provider_delete_attempts).where(InboundMessage.external_id == sid)
        ).one()


def test_twilio_down_is_tried_again_and_a_refusal_is_given_up(kengele, twilio_api, factory, copies):
    first = inbound(kengele, twilio_api)
    twilio_api.fake.fail_next(1, status=503)
    assert erase(factory, copies) == 0 and attempts(factory, first) == 1
    assert erase(factory, copies) == 1 and twilio_api.fake.deleted("Messages") == [first]
    second = inbound(kengele, twilio_api)
    twilio_api.fake.fail_next(1, status=400, code=20009)  # Twilio: "cannot delete this message"
    assert erase(factory, copies) == 0 and attempts(factory, second) == provider_copies.MAX_ATTEMPTS
    assert erase(factory, copies) == 0 and second not in twilio_api.fake.deleted("Messages")  # never again
