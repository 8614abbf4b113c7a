"""The intake's hand-written fast paths agree with the library code they replace, input for input."""

from __future__ import annotations

import asyncio
import base64
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select, text
from starlette.datastructures import Headers
from starlette.formparsers import FormParser
from starlette.requests import Request
from twilio.request_validator import RequestValidator
from twilio.twiml.messaging_response import MessagingResponse

from app.core.clock import utcnow
from app.core.db import transaction
from app.feedback import receipts
from app.intake import service as inbox_service
from app.intake.models import InboundMessage
from app.intake.router import twiml_message
from app.security import signatures
from app.security.dependencies import parse_form, received_url

FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def starlette_form(body: bytes) -> list[tuple[str, str]]:
    async def stream():
        yield body

    headers = Headers({"content-type": "application/x-www-form-urlencoded"})
    # A thread of its own: the browser tests' Playwright keeps an event loop running in the main thread.
    with ThreadPoolExecutor(1) as pool:
        return list(pool.submit(asyncio.run, FormParser(headers, stream()).parse()).result().multi_items())


FORM_BYTES = st.lists(
    st.sampled_from([b"&", b"=", b"+", b"%", b"%2", b"%41", b"%e9", b"%C3%A9", b"a", b"B", b"\xff", b" "])
)


@FAST
@given(FORM_BYTES.map(b"".join) | st.binary(max_size=60))
def test_parse_form_reads_any_body_as_starlette_does(body):
    assert parse_form(body) == starlette_form(body)


SCOPES = st.fixed_dictionaries({
    "type": st.just("http"),
    "scheme": st.sampled_from(["http", "https"]),
    "server": st.sampled_from([None, ("127.0.0.1", 8000), ("::1", 443), ("alerts.example.org", 80)]),
    "path": st.sampled_from(["/twilio/sms", "/twilio/voice", "/a?b", "//twilio/sms", "/caf\u00e9"]),
    "query_string": st.sampled_from([b"", b"k=1", b"k=1&b=%20", b"x=%E9"]),
    "headers": st.lists(
        st.tuples(st.sampled_from([b"host", b"content-type"]),
                  st.sampled_from([b"testserver", b"alerts.example.org:8443", b"[::1]:80", b"bad:port", b"\xe9"])),
        max_size=3,
    ),
})  # fmt: skip


@FAST
@given(st.lists(SCOPES, min_size=1, max_size=4))
def test_the_received_url_is_starlettes_whatever_requests_came_before(scopes):
    # Each request after others: a cache key that left out a part of the URL would answer with another's.
    for scope in scopes:
        starlette = Request(scope).url
        assert received_url(Request(scope)) == (str(starlette), starlette.path)


FIELD = st.text(st.characters(codec="utf-8"), max_size=6)
URLS = st.sampled_from([
    "http://testserver/twilio/sms",
    "http://testserver:80/twilio/sms",
    "https://alerts.example.org/twilio/sms?k=1&b=%20",
    "https://alerts.example.org:443/twilio/sms",
    "https://alerts.example.org:8443/twilio/sms",
])  # fmt: skip


@FAST
@given(URLS, URLS, st.lists(st.tuples(FIELD, FIELD), max_size=6), st.booleans(), st.sampled_from([None, "HMAC_SHA256"]))
def test_verify_twilio_accepts_exactly_what_the_sdk_accepts(signed_url, url, pairs, tamper, algorithm):
    token = "token-1"
    signature = RequestValidator(token).compute_signature(signed_url, GetAllDict(pairs), algorithm)
    if tamper:
        signature = base64.b64encode(b"x" * 20).decode()
    header = f"key=k,algorithm={algorithm}" if algorithm else None
    sdk = RequestValidator(token).validate(url, GetAllDict(pairs), signature, algorithm=algorithm or "HMAC_SHA1")
    try:
        signatures.verify_twilio(auth_token=token, url=url, params=pairs, signature=signature, settings_header=header)
        ours = True
    except signatures.SignatureError:
        ours = False
    assert ours == sdk


class GetAllDict(dict):
    """Repeated fields as the SDK reads them: through getall(), as from Flask's MultiDict."""

    def __init__(self, pairs):
        super().__init__()
        for name, value in pairs:
            self.setdefault(name, []).append(value)

    def getall(self, name):
        return self[name]


@pytest.mark.parametrize("language", [*receipts.supported_languages(), None])
def test_twiml_receipt_is_the_sdks_document(language):
    text_ = receipts.receipt_text("K7M2QX", language)
    reply = MessagingResponse()
    reply.message(text_)
    assert twiml_message(text_) == str(reply)


@given(st.text(st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"]), max_size=40))
def test_twiml_escapes_like_the_sdk(body):
    reply = MessagingResponse()
    reply.message(body)
    assert twiml_message(body) == str(reply)


def test_insert_batch_stores_what_the_orm_stores(factory):
    now = utcnow()
    rows = [_row(now) for _ in range(3)]
    with transaction(factory) as session:
        assert inbox_service.store(session=session, values=rows[0])
        created = inbox_service.insert_batch(connection=session.connection(), rows=rows)
    # The row already stored is skipped, the others are new.
    assert created == {(row["source"], row["external_id"]) for row in rows[1:]}
    with factory() as session:
        raw = session.execute(text("SELECT external_id, received_at, next_attempt_at, spooled FROM inbound_message"))
        by_id = {external_id: (received, due, spooled) for external_id, received, due, spooled in raw}
        stored = {row.external_id: row for row in session.scalars(select(InboundMessage))}
    assert len({by_id[row["external_id"]] for row in rows}) == 1, "ORM and fast insert wrote different values"
    for row in rows:
        assert stored[row["external_id"]].received_at == now and stored[row["external_id"]].spooled is False


def _row(now):
    sid = "SM" + uuid.uuid4().hex
    return {
        "source": "twilio_sms", "external_id": sid, "payload_encrypted": "x", "payload_digest": "d",
        "sender_hash": None, "receipt_ref": "ABC123", "received_at": now, "spooled": False, "exercise": False,
        "attempts": 0, "next_attempt_at": now,
    }  # fmt: skip
