"""No phone number or message body reaches the logs, on the success path or the failure paths."""

from __future__ import annotations

import logging

from sqlalchemy.exc import OperationalError

from app.core.logging import PhoneRedactingFilter
from app.incidents import pipeline
from app.intake import tasks
from tests.helpers import partner_body, post_partner, post_sms, sms_form

PHONE = "+23675432198"
NATIONAL = "75432198"
BODY = "Sentinelle-Bozoum-7731 hommes armés au marché"


def assert_clean(text: str) -> None:
    for secret in (PHONE, NATIONAL, "75 43 21 98", "Sentinelle-Bozoum-7731", "hommes armés au marché"):
        assert secret not in text, f"personal data in logs: {secret!r}"


def test_intake_worker_and_failures_log_no_personal_data(client, caplog, monkeypatch):
    caplog.set_level(logging.DEBUG)
    from app.partners import service as partner_service

    with client.app.state.sessionmaker.begin() as session:
        creds = partner_service.create(session=session, vault=client.app.state.vault, name="Réseau paroissial")

    post_sms(client, sms_form(From=PHONE, Body=BODY))
    post_sms(client, sms_form(From=NATIONAL, Body=BODY), signature="forged")  # rejected signature
    post_sms(client, {**sms_form(From=PHONE, Body=BODY), "MessageSid": "bad"})  # validation error
    post_partner(client, creds.api_key, creds.signing_secret, partner_body(text=BODY, reporter={"phone": PHONE}))
    post_partner(client, creds.api_key, creds.signing_secret, partner_body(text=BODY, reporter={"phone": "+2361"}))

    # A failing pipeline step whose exception quotes the message must not leak it either.
    def leaky_step(session, report):
        raise ValueError(f"cannot parse {report.body!r} from {PHONE}")

    monkeypatch.setattr(pipeline, "REPORT_STEPS", [leaky_step])
    vault, factory = client.app.state.vault, client.app.state.sessionmaker
    tasks.process_due(factory=factory, vault=vault, batch_size=10, retry_schedule=[1])

    # And a database outage on the intake path.
    gateway = client.app.state.gateway

    def broken():
        raise OperationalError("INSERT", {"body": BODY}, Exception(f"down while storing {PHONE}"))

    monkeypatch.setattr(gateway._writer, "_begin", broken)
    assert post_sms(client, sms_form(From=PHONE, Body=BODY)).status_code == 200

    assert "spooling" in caplog.text and "failed (ValueError)" in caplog.text  # the logs did say something
    assert_clean(caplog.text)


def test_redacting_filter_masks_numbers_that_slip_through():
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "call %s or %s now", (PHONE, "+236 75 43 21 98"), None)
    PhoneRedactingFilter().filter(record)
    assert PHONE not in record.getMessage() and "75 43 21 98" not in record.getMessage()
    assert "[redacted-number]" in record.getMessage()
    assert record.getMessage().startswith("call ")


def test_the_console_sink_and_the_call_back_path_log_no_number(client, settings, caplog):
    """A beep's call-back SMS carries the caller's number to the CLA; the console sink must not log it."""
    from app import worker
    from app.core.db import transaction
    from app.notify import tasks as notify_tasks
    from app.security.signatures import sign_twilio
    from app.verification import service as verification
    from tests.conftest import TWILIO_TOKEN
    from tests.helpers import new_sid, register_reporter

    caplog.set_level(logging.DEBUG)
    vault, factory = client.app.state.vault, client.app.state.sessionmaker
    with transaction(factory) as session:
        verification.register_cla(session=session, vault=vault, name="CLA Bozoum", phone="+23672300001",
                                  default_region="CF", area=verification.Area("Bozoum", 6.317, 16.378, 40.0),
                                  languages=["fr"], schedule=[])  # fmt: skip
    register_reporter(factory, vault, PHONE, home_lat=6.32, home_lon=16.38, home_place="Bozoum")
    form = {"CallSid": new_sid("CA"), "From": PHONE, "To": "+23670000000", "AccountSid": "AC" + "1" * 32}
    url = "http://testserver/twilio/voice"
    client.post(url, data=form, headers={"X-Twilio-Signature": sign_twilio(auth_token=TWILIO_TOKEN, url=url,
                                                                          params=form)})  # fmt: skip
    tasks.process_due(factory=factory, vault=vault, batch_size=10, retry_schedule=[1])
    channels = worker.notify_channels(settings, client.app.state.keys)  # no Twilio account: the console sink
    sent = notify_tasks.send_due(factory=factory, vault=vault, channels=channels,
                                 config=notify_tasks.SendSettings(None, [1], 3))  # fmt: skip
    assert sent == 1 and "outbound sms callback" in caplog.text
    assert_clean(caplog.text)
