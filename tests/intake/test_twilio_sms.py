"""POST /twilio/sms through the real app and database: signatures, idempotency, bodies, malformed forms."""

from __future__ import annotations

import asyncio
import json
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlencode

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from app.feedback import receipts
from app.intake.models import InboundMessage
from tests.conftest import TWILIO_TOKEN
from tests.helpers import new_sid, post_sms, register_reporter, sms_form


def inbox_rows(client: TestClient) -> list[InboundMessage]:
    with client.app.state.sessionmaker() as session:
        return list(session.scalars(select(InboundMessage).order_by(InboundMessage.id)))


def stored_payload(client: TestClient, row: InboundMessage) -> dict:
    return json.loads(client.app.state.vault.decrypt(row.payload_encrypted))


def reply_text(response) -> str:
    root = ET.fromstring(response.text)  # noqa: S314
    assert root.tag == "Response"
    return root.find("Message").text


def test_valid_sms_is_stored_encrypted_and_answered_with_a_receipt(client):
    form = sms_form(Body="Hommes armés à Ayorkpo, 13 km de Bria")
    response = post_sms(client, form)

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/xml")
    [row] = inbox_rows(client)
    assert (row.source, row.external_id) == ("twilio_sms", form["MessageSid"])
    # Stored before the answer, and only encrypted: neither the number nor the text is readable at rest.
    assert "+23675123456" not in row.payload_encrypted and "Ayorkpo" not in row.payload_encrypted
    payload = stored_payload(client, row)
    assert payload["body"] == form["Body"]
    assert payload["sender_phone"] == "+23675123456"
    assert payload["provider_fields"]["SmsStatus"] == "received"
    assert row.receipt_ref in reply_text(response)
    assert reply_text(response) == receipts.receipt_text(row.receipt_ref, "fr")


def test_duplicate_message_sid_stores_nothing_new_and_gets_the_same_reply(client):
    form = sms_form()
    first = post_sms(client, form)
    second = post_sms(client, form)
    assert first.status_code == second.status_code == 200
    assert first.text == second.text
    assert len(inbox_rows(client)) == 1


def test_distinct_messages_get_distinct_receipts(client):
    replies = {reply_text(post_sms(client, sms_form())) for _ in range(5)}
    assert len(replies) == 5
    assert len(inbox_rows(client)) == 5


@pytest.mark.parametrize("signature", ["", "bm90IHRoZSBzaWduYXR1cmU="], ids=["missing", "wrong"])
def test_missing_or_wrong_signature_is_403_and_stores_nothing(client, signature):
    response = post_sms(client, sms_form(), signature=signature)
    assert response.status_code == 403
    assert "X-Twilio-Signature" in response.json()["detail"]
    assert inbox_rows(client) == []


def test_signature_with_another_token_is_rejected(client):
    response = post_sms(client, sms_form(), token="not-our-token")
    assert response.status_code == 403
    assert inbox_rows(client) == []


def test_tampered_field_after_signing_is_rejected(client):
    form = sms_form(Body="attaque")
    response = post_sms(client, {**form, "Body": "tout est calme"}, signature=_sig(form))
    assert response.status_code == 403


def _sig(form, url="http://testserver/twilio/sms"):
    from app.security.signatures import sign_twilio

    return sign_twilio(auth_token=TWILIO_TOKEN, url=url, params=form)


def test_url_with_query_string_is_signed_over_the_query(client):
    url = "http://testserver/twilio/sms?channel=cla&x=a%20b"
    assert post_sms(client, sms_form(), url=url).status_code == 200
    # The same signature presented without the query does not validate.
    form = sms_form()
    assert post_sms(client, form, url="http://testserver/twilio/sms", signature=_sig(form, url)).status_code == 403


def _asgi_post(app, path: str, query: bytes, body: bytes) -> list[dict]:
    """POST straight to the ASGI app with a raw query string (an HTTP client would percent-encode it)."""
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
        "path": path, "raw_path": path.encode(), "query_string": query, "root_path": "",
        "headers": [(b"host", b"testserver"), (b"content-type", b"application/x-www-form-urlencoded"),
                    (b"content-length", str(len(body)).encode()), (b"x-twilio-signature", b"c2ln")],
        "client": ("127.0.0.1", 50000), "server": ("testserver", 80),
    }  # fmt: skip
    sent: list[dict] = []

    async def receive() -> dict:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict) -> None:
        sent.append(message)

    # A thread of its own: the browser tests' Playwright keeps an event loop running in the main thread.
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, app(scope, receive, send)).result()
    return sent


def test_a_query_string_that_is_not_utf8_is_400_not_a_crash(client):
    sent = _asgi_post(client.app, "/twilio/sms", b"x=\xe9", urlencode(sms_form()).encode())
    assert sent[0]["status"] == 400
    assert b"not UTF-8" in sent[1]["body"]
    assert inbox_rows(client) == []


def test_proxy_rewritten_host_validates_against_public_base_url(make_client):
    public = "https://alerts.example.org"
    proxied = make_client(public_base_url=public)
    # Twilio signed the public https URL; the request reaches us as plain http on another host and port.
    internal = "http://kengele-api:8000/twilio/sms?k=1"
    ok = post_sms(proxied, sms_form(), url=internal, signed_url=f"{public}/twilio/sms?k=1")
    assert ok.status_code == 200
    bad = post_sms(proxied, sms_form(), url=internal)  # signed for the internal URL, not the public one
    assert bad.status_code == 403


@pytest.mark.parametrize(
    "body",
    [
        "",
        "x" * 1600,
        "مسلحون في القرية، ساعدونا 🙏",
        "Ça brûle à Ndélé — «aidez-nous» ¿€[]{}~^\\|",
        "\u200b\u0000tab\there",
    ],
    ids=["empty", "1600-chars", "arabic-emoji", "non-gsm-latin", "control-chars"],
)
def test_bodies_are_stored_exactly(client, body):
    form = sms_form(Body=body)
    assert post_sms(client, form).status_code == 200
    [row] = inbox_rows(client)
    assert stored_payload(client, row)["body"] == body


@pytest.mark.parametrize(
    ("change", "status"),
    [
        ({"MessageSid": None}, 422),
        ({"MessageSid": "SMnot-a-sid"}, 422),
        ({"MessageSid": "XX" + "a" * 32}, 422),
        ({"From": None}, 422),
        ({"From": ""}, 422),
        ({"Body": "x" * 1601}, 422),
        ({"NumMedia": "many"}, 422),
    ],
    ids=["no-sid", "bad-sid", "wrong-prefix", "no-from", "empty-from", "body-too-long", "num-media-text"],
)
def test_malformed_but_signed_forms_are_422_with_a_reason(client, change, status):
    form = {k: v for k, v in {**sms_form(), **change}.items() if v is not None}
    response = post_sms(client, form)
    assert response.status_code == status
    detail = response.json()["detail"]
    assert detail and all("loc" in d and "msg" in d for d in detail)
    # The error names the field but never echoes what was sent (it may be a number or a message).
    assert "input" not in json.dumps(detail) and "+23675123456" not in response.text
    assert inbox_rows(client) == []


def test_json_body_is_415(client):
    response = client.post("/twilio/sms", json={"MessageSid": new_sid()}, headers={"X-Twilio-Signature": "x"})
    assert response.status_code == 415


def test_garbage_form_bytes_are_4xx(client):
    response = client.post(
        "/twilio/sms",
        content=b"%ZZ&&==\xff\xfe=%",
        headers={"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": "abc"},
    )
    assert 400 <= response.status_code < 500


def test_oversized_body_is_413(client):
    form = sms_form(Body="x" * 70_000)
    assert post_sms(client, form).status_code == 413


def test_no_auth_token_in_production_closes_the_endpoint(make_client):
    closed = make_client(twilio_auth_token=None, mode="production")
    response = post_sms(closed, sms_form())
    assert response.status_code == 503
    assert "closed" in response.json()["detail"]
    assert inbox_rows(closed) == []


def test_insecure_flag_skips_the_check_and_says_so(make_client, caplog):
    insecure = make_client(insecure_skip_twilio_signature=True)
    assert post_sms(insecure, sms_form(), signature="").status_code == 200
    assert "INSECURE" in caplog.text


def test_account_sid_must_match_when_configured(make_client):
    mine = "AC" + "2" * 32
    strict = make_client(twilio_account_sid=mine)
    assert post_sms(strict, sms_form()).status_code == 403
    assert post_sms(strict, sms_form(AccountSid=mine)).status_code == 200


def test_receipt_is_in_the_known_reporters_language(client):
    _register(client, "+23675999999", language="sw")
    response = post_sms(client, sms_form(From="75 99 99 99"))  # national format, same number
    [row] = inbox_rows(client)
    assert reply_text(response) == receipts.receipt_text(row.receipt_ref, "sw")


def _register(client, phone: str, **fields):
    register_reporter(client.app.state.sessionmaker, client.app.state.vault, phone, **fields)


def test_a_cla_whose_code_cannot_be_read_gets_the_format_back(client):
    from app.understanding import shortcodes

    _register(client, "+23675888888", kind="cla", language="fr")
    broken = post_sms(client, sms_form(From="+23675888888", Body="A Bria hommes armes partout"))
    assert reply_text(broken) == shortcodes.help_text("fr")
    good = post_sms(client, sms_form(From="+23675888888", Body="A Bria AT 20 3D"))
    assert "AT attaque" not in reply_text(good) and len(reply_text(good)) < 60
    # Both were stored all the same: a message is never dropped for its form.
    assert len(inbox_rows(client)) == 2


def test_a_villager_writing_like_a_code_just_gets_a_receipt(client):
    response = post_sms(client, sms_form(Body="A Bria des hommes armes"))
    [row] = inbox_rows(client)
    assert reply_text(response) == receipts.receipt_text(row.receipt_ref, "fr")
