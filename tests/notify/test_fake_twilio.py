"""The fake Twilio API itself: Twilio's shapes, authentication, error injection and signed status callbacks."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from app.notify import twiml
from app.notify.fake_twilio import FakeTwilioServer
from app.notify.ports import OutboundMessage
from app.notify.twilio_channel import TwilioSmsChannel, TwilioVoiceChannel, make_client
from app.security.signatures import SignatureError, verify_twilio

NUMBER = "+23675123456"


def messages_url(server: FakeTwilioServer) -> str:
    return f"{server.base_url}/2010-04-01/Accounts/{server.fake.account_sid}/Messages.json"


def send_sms(server: FakeTwilioServer, callback: str | None = None, to: str = NUMBER):
    message = OutboundMessage("k", "sms", to, "Message reçu, réf. ABC123. Merci.", status_callback=callback)
    return TwilioSmsChannel(server.twilio_config()).send(message)


def test_it_listens_on_loopback_only(fake_twilio):
    assert fake_twilio.base_url.startswith("http://127.0.0.1:")


def test_wrong_credentials_get_twilio_401_json(fake_twilio):
    response = httpx.post(
        messages_url(fake_twilio),
        data={"To": NUMBER, "From": "+15005550006", "Body": "x"},
        auth=(fake_twilio.fake.account_sid, "wrong"),
    )

    assert response.status_code == 401
    assert response.json() == {
        "code": 20003,
        "message": "Authenticate",
        "more_info": "https://www.twilio.com/docs/errors/20003",
        "status": 401,
    }


def test_missing_body_is_refused_like_twilio(fake_twilio):
    fake = fake_twilio.fake
    response = httpx.post(
        messages_url(fake_twilio), data={"To": NUMBER, "From": "+15005550006"}, auth=(fake.account_sid, fake.auth_token)
    )

    assert response.status_code == 400 and response.json()["code"] == 21602
    assert fake.created("Messages") == []


def test_a_created_message_is_shaped_like_twilio(fake_twilio):
    result = send_sms(fake_twilio)

    data = fake_twilio.fake.resource(result.provider_id)
    assert len(data["sid"]) == 34 and data["sid"].startswith("SM")
    assert data["status"] == "queued" and data["direction"] == "outbound-api"
    assert data["to"] == NUMBER and data["from"] == "+15005550006"
    assert data["num_segments"] == "1"  # 'ç' makes it UCS-2, but it still fits in 70
    assert data["date_created"].endswith("+0000")


def test_concurrent_sends_are_all_recorded(fake_twilio):
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: send_sms(fake_twilio), range(40)))

    assert all(r.accepted for r in results)
    assert len({r.provider_id for r in results}) == 40
    assert len(fake_twilio.fake.created("Messages")) == 40


def test_status_callbacks_are_signed_like_twilio(fake_twilio, receiver):
    callback = f"{receiver.base_url}/twilio/status?unit=7"
    result = send_sms(fake_twilio, callback)

    response = fake_twilio.fake.emit_status(result.provider_id, "sent")

    assert response.status_code == 200
    [got] = receiver.received
    assert got.form["MessageSid"] == result.provider_id and got.form["MessageStatus"] == "sent"
    assert got.form["AccountSid"] == fake_twilio.fake.account_sid and got.form["To"] == NUMBER
    verify_twilio(
        auth_token=fake_twilio.fake.auth_token,
        url=got.url,
        params=got.form,
        signature=got.headers["x-twilio-signature"],
    )
    with pytest.raises(SignatureError):
        verify_twilio(
            auth_token="another-token", url=got.url, params=got.form, signature=got.headers["x-twilio-signature"]
        )


def test_error_codes_travel_with_failed_statuses(fake_twilio, receiver):
    result = send_sms(fake_twilio, f"{receiver.base_url}/twilio/status")

    fake_twilio.fake.emit_status(result.provider_id, "undelivered", error_code=30003)

    assert receiver.received[0].form["ErrorCode"] == "30003"
    assert fake_twilio.fake.resource(result.provider_id)["status"] == "undelivered"


def test_out_of_order_callbacks_never_move_a_status_back(fake_twilio, receiver):
    result = send_sms(fake_twilio, f"{receiver.base_url}/twilio/status")

    for status in ("sending", "delivered", "sent"):  # a late 'sent' after the delivery receipt
        fake_twilio.fake.emit_status(result.provider_id, status)

    assert len(receiver.received) == 3
    assert receiver.statuses[result.provider_id] == "delivered"


def test_call_callbacks_carry_call_fields_and_a_sequence(fake_twilio, receiver):
    document = twiml.acknowledge_prompt("Alert.", "https://alerts.example.org/ivr/ack", "en")
    message = OutboundMessage(
        "k", "voice", NUMBER, "Alert.", twiml=document, status_callback=f"{receiver.base_url}/twilio/voice"
    )
    result = TwilioVoiceChannel(fake_twilio.twilio_config()).send(message)

    for status in ("initiated", "ringing", "in-progress", "completed"):
        fake_twilio.fake.emit_status(result.provider_id, status)

    forms = [r.form for r in receiver.received]
    assert [f["CallStatus"] for f in forms] == ["initiated", "ringing", "in-progress", "completed"]
    assert [f["SequenceNumber"] for f in forms] == ["0", "1", "2", "3"]
    assert all(f["CallSid"] == result.provider_id and f["Direction"] == "outbound-api" for f in forms)
    assert receiver.statuses[result.provider_id] == "completed"


def test_emitting_needs_a_callback_url(fake_twilio):
    result = send_sms(fake_twilio)

    with pytest.raises(ValueError, match="StatusCallback"):
        fake_twilio.fake.emit_status(result.provider_id, "sent")


def test_fetch_reflects_emitted_statuses(fake_twilio, receiver):
    result = send_sms(fake_twilio, f"{receiver.base_url}/s")
    fake_twilio.fake.emit_status(result.provider_id, "delivered")

    fetched = make_client(fake_twilio.twilio_config()).messages(result.provider_id).fetch()

    assert fetched.status == "delivered"


def test_injected_errors_can_be_cleared(fake_twilio):
    fake_twilio.fake.fail_number(NUMBER, 400, 21610)
    assert send_sms(fake_twilio).error_code == "21610"

    fake_twilio.fake.clear()

    assert send_sms(fake_twilio).accepted


def test_the_fake_can_run_without_magic_numbers():
    with FakeTwilioServer(magic_numbers=False) as server:
        assert send_sms(server, to="+15005550001").accepted


def test_deleting_a_record_answers_204_once_then_404_and_needs_the_credentials(fake_twilio):
    sid = send_sms(fake_twilio).provider_id
    url = f"{fake_twilio.base_url}/2010-04-01/Accounts/{fake_twilio.fake.account_sid}/Messages/{sid}.json"
    credentials = (fake_twilio.fake.account_sid, fake_twilio.fake.auth_token)
    assert httpx.delete(url, auth=(fake_twilio.fake.account_sid, "wrong")).status_code == 401
    assert httpx.get(url, auth=credentials).status_code == 200  # still there
    assert httpx.delete(url, auth=credentials).status_code == 204
    assert httpx.get(url, auth=credentials).status_code == 404
    assert httpx.delete(url, auth=credentials).json()["code"] == 20404
    assert fake_twilio.fake.deleted("Messages") == [sid]
