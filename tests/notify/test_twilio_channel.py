"""Twilio channels: the real SDK against the local fake Twilio API."""

from __future__ import annotations

import asyncio
import logging
import re

import pytest
import requests
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route
from twilio.base.exceptions import TwilioRestException

from app.notify import twiml
from app.notify.fake_twilio import BackgroundServer
from app.notify.ports import OutboundMessage
from app.notify.twilio_channel import (
    BaseUrlTwilioHttpClient,
    TwilioSmsChannel,
    TwilioVoiceChannel,
    make_client,
    result_from_error,
)

NUMBER = "+23675123456"
TEXT = "Alerte K-4821: confirmez la réception."
SID = re.compile(r"(SM|CA)[0-9a-f]{32}")


def sms(to: str = NUMBER, **fields) -> OutboundMessage:
    return OutboundMessage(idempotency_key="esc-1:sms", kind="sms", to=to, text=TEXT, **fields)


def call(twiml_doc: str | None, to: str = NUMBER, **fields) -> OutboundMessage:
    return OutboundMessage(idempotency_key="esc-1:voice", kind="voice", to=to, text=TEXT, twiml=twiml_doc, **fields)


def test_sms_is_accepted_with_the_provider_sid(fake_twilio):
    result = TwilioSmsChannel(fake_twilio.twilio_config()).send(sms())

    assert result.accepted and not result.retryable
    assert SID.fullmatch(result.provider_id) and result.provider_id.startswith("SM")
    assert result.status == "queued"
    [request] = fake_twilio.fake.created("Messages")
    assert request.sid == result.provider_id
    assert (request.get("To"), request.get("From"), request.get("Body")) == (NUMBER, "+15005550006", TEXT)
    assert request.path == f"/2010-04-01/Accounts/{fake_twilio.fake.account_sid}/Messages.json"
    assert "ValidityPeriod" not in request.form and "StatusCallback" not in request.form


def test_validity_period_and_status_callback_are_forwarded(fake_twilio):
    message = sms(status_callback="https://alerts.example.org/twilio/status", validity_period_s=600)

    assert TwilioSmsChannel(fake_twilio.twilio_config()).send(message).accepted

    [request] = fake_twilio.fake.created("Messages")
    assert request.get("ValidityPeriod") == "600"
    assert request.get("StatusCallback") == "https://alerts.example.org/twilio/status"


def test_a_messaging_service_replaces_the_from_number(fake_twilio):
    config = fake_twilio.twilio_config(from_number=None, messaging_service_sid="MG" + "1" * 32)

    result = TwilioSmsChannel(config).send(sms())

    [request] = fake_twilio.fake.created("Messages")
    assert request.get("MessagingServiceSid") == "MG" + "1" * 32 and "From" not in request.form
    assert result.status == "accepted"


@pytest.mark.parametrize(
    ("number", "code"),
    [("+15005550001", "21211"), ("+15005550009", "21614"), ("+15005550003", "21408"), ("+15005550004", "21610")],
)
def test_bad_recipients_are_permanent_failures_that_never_quote_number_or_text(fake_twilio, number, code):
    result = TwilioSmsChannel(fake_twilio.twilio_config()).send(sms(to=number))

    assert not result.accepted and not result.retryable
    assert result.error_code == code and result.status == "rejected"
    # The fake, like Twilio, quotes the number in its error message; none of it may reach the result.
    assert number not in result.error_detail and number[1:] not in result.error_detail
    assert TEXT not in result.error_detail


@pytest.mark.parametrize(
    ("status", "code", "expected_code"),
    [(503, None, "20503"), (429, None, "20429"), (500, None, "20500"), (400, 30001, "30001"), (502, 12345, "12345")],
)
def test_outages_and_rate_limits_are_retryable(fake_twilio, status, code, expected_code):
    channel = TwilioSmsChannel(fake_twilio.twilio_config())
    fake_twilio.fake.fail_next(1, status=status, code=code)

    first = channel.send(sms())
    second = channel.send(sms())

    assert not first.accepted and first.retryable and first.error_code == expected_code
    assert second.accepted  # only the next request was made to fail


def test_an_unknown_client_error_is_permanent(fake_twilio):
    fake_twilio.fake.fail_number(NUMBER, 400, 99999)

    result = TwilioSmsChannel(fake_twilio.twilio_config()).send(sms())

    assert not result.accepted and not result.retryable and result.error_code == "99999"


def test_connection_refused_is_retryable(fake_twilio, dead_url):
    config = fake_twilio.twilio_config(api_base_url=dead_url)

    result = TwilioSmsChannel(config).send(sms())

    assert not result.accepted and result.retryable and result.error_code == "network"


def test_a_twilio_that_does_not_answer_in_time_is_retryable(fake_twilio):
    async def slow(request):
        await asyncio.sleep(2)
        return JSONResponse({})

    app = Starlette(routes=[Route("/{path:path}", slow, methods=["POST"])])
    with BackgroundServer(app) as server:
        config = fake_twilio.twilio_config(api_base_url=server.base_url, timeout_s=0.3)
        result = TwilioSmsChannel(config).send(sms())

    assert not result.accepted and result.retryable and result.error_code == "timeout"


def test_wrong_credentials_are_a_permanent_20003(fake_twilio):
    result = TwilioSmsChannel(fake_twilio.twilio_config(auth_token="not-the-token")).send(sms())

    assert not result.accepted and not result.retryable and result.error_code == "20003"
    [request] = fake_twilio.fake.requests
    assert request.status == 401 and not request.authorized


def test_a_number_that_is_not_e164_is_refused_without_calling_twilio(fake_twilio):
    result = TwilioSmsChannel(fake_twilio.twilio_config()).send(sms(to="075123456"))

    assert not result.accepted and not result.retryable and result.error_code == "invalid_recipient"
    assert fake_twilio.fake.requests == []


def test_nothing_about_the_recipient_or_text_is_logged(fake_twilio, caplog):
    channel = TwilioSmsChannel(fake_twilio.twilio_config())
    with caplog.at_level(logging.DEBUG):
        channel.send(sms())
        channel.send(sms(to="+15005550001"))
        fake_twilio.fake.fail_next(1, 503)
        channel.send(sms())

    assert "esc-1:sms" in caplog.text  # the lines are there…
    for secret in (NUMBER, NUMBER[1:], "15005550001", TEXT):
        assert secret not in caplog.text  # …without the number or the body


def test_a_voice_call_is_created_with_the_acknowledgement_twiml(fake_twilio):
    document = twiml.acknowledge_prompt("Alerte à Bria. Appuyez sur 1.", "https://alerts.example.org/ivr/ack", "fr")
    config = fake_twilio.twilio_config(voice_from_number="+15005550007", machine_detection=True)

    result = TwilioVoiceChannel(config).send(call(document, status_callback="https://alerts.example.org/voice"))

    assert result.accepted and result.provider_id.startswith("CA") and SID.fullmatch(result.provider_id)
    [request] = fake_twilio.fake.created("Calls")
    assert request.get("Twiml") == document and twiml.validate_twiml(request.get("Twiml")) == []
    assert request.get("From") == "+15005550007" and request.get("To") == NUMBER
    assert request.form["StatusCallbackEvent"] == ["initiated", "ringing", "answered", "completed"]
    assert request.get("StatusCallback") == "https://alerts.example.org/voice"
    assert request.get("MachineDetection") == "Enable"


def test_a_voice_call_without_twiml_is_refused_locally(fake_twilio):
    result = TwilioVoiceChannel(fake_twilio.twilio_config()).send(call(None))

    assert not result.accepted and not result.retryable and result.error_code == "no_twiml"
    assert fake_twilio.fake.requests == []


def test_a_voice_call_to_a_magic_invalid_number_fails_permanently(fake_twilio):
    document = twiml.acknowledge_prompt("Alert.", "https://alerts.example.org/ivr/ack", "en")

    result = TwilioVoiceChannel(fake_twilio.twilio_config()).send(call(document, to="+15005550001"))

    assert not result.retryable and result.error_code == "21211"


def test_a_message_of_another_kind_is_refused(fake_twilio):
    message = OutboundMessage("k", "webhook", "https://unit.example.org/hook", "x")

    assert TwilioSmsChannel(fake_twilio.twilio_config()).send(message).error_code == "wrong_channel"


def test_channels_need_a_sender():
    from app.notify.twilio_channel import TwilioConfig

    config = TwilioConfig(account_sid="AC1", auth_token="t")
    with pytest.raises(ValueError, match="from number"):
        TwilioSmsChannel(config)
    with pytest.raises(ValueError, match="caller id"):
        TwilioVoiceChannel(config)


def test_the_sdk_fetches_from_the_fake_too(fake_twilio):
    result = TwilioSmsChannel(fake_twilio.twilio_config()).send(sms())

    fetched = make_client(fake_twilio.twilio_config()).messages(result.provider_id).fetch()

    assert fetched.sid == result.provider_id and fetched.status == "queued"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages.json",
            "http://127.0.0.1:9/2010-04-01/Accounts/AC1/Messages.json",
        ),
        ("https://api.dublin.ie1.twilio.com/2010-04-01/Calls.json", "http://127.0.0.1:9/2010-04-01/Calls.json"),
        ("https://messaging.twilio.com/v1/Services?x=1", "http://127.0.0.1:9/v1/Services?x=1"),
        ("https://twilio.com.evil.example/x", "https://twilio.com.evil.example/x"),
        ("https://eviltwilio.com/x", "https://eviltwilio.com/x"),
        ("https://example.org/2010-04-01/x", "https://example.org/2010-04-01/x"),
        ("http://api.twilio.com/x", "http://api.twilio.com/x"),
    ],
)
def test_the_base_url_client_moves_only_twilio_hosts(url, expected):
    assert BaseUrlTwilioHttpClient("http://127.0.0.1:9/").rewrite(url) == expected


def test_the_base_url_keeps_its_own_path_prefix():
    client = BaseUrlTwilioHttpClient("http://127.0.0.1:9/fake")

    assert client.rewrite("https://api.twilio.com/2010-04-01/x") == "http://127.0.0.1:9/fake/2010-04-01/x"


@pytest.mark.parametrize(
    ("error", "retryable", "code"),
    [
        (TwilioRestException(401, "u", "Authenticate", 20003), False, "20003"),
        (TwilioRestException(400, "u", "The 'To' number +23675123456 is not valid", 21211), False, "21211"),
        (TwilioRestException(429, "u", "Too Many Requests", 20429), True, "20429"),
        (TwilioRestException(503, "u", "Unavailable", None), True, "503"),
        (TwilioRestException(504, "u", "Gateway timeout", 504), True, "504"),
        (TwilioRestException(404, "u", "Not found", 20404), False, "20404"),
        (requests.ConnectionError("refused"), True, "network"),
        (requests.ReadTimeout("slow"), True, "timeout"),
    ],
)
def test_errors_map_to_results(error, retryable, code):
    result = result_from_error(error)

    assert (result.accepted, result.retryable, result.error_code) == (False, retryable, code)
    assert "+23675123456" not in result.error_detail


def test_programming_errors_are_not_swallowed():
    with pytest.raises(KeyError):
        result_from_error(KeyError("bug"))
