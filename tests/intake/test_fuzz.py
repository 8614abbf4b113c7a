"""Property-based fuzzing of the intake endpoints: any form or body gets an answer below 500."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers import post_partner, post_sms, sms_form

FIELDS = ["MessageSid", "AccountSid", "From", "To", "Body", "NumMedia", "NumSegments", "Extra", ""]
FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@FUZZ
@given(
    st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=8), st.text(max_size=300), max_size=8),
    st.booleans(),
)
def test_any_signed_form_is_answered_without_a_server_error(client, fields, start_valid):
    form = {**sms_form(), **fields} if start_valid else fields
    response = post_sms(client, form)
    assert response.status_code < 500
    if response.status_code == 200:
        assert response.text.startswith("<?xml")


@FUZZ
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
        lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=5),
        max_leaves=12,
    ),
    st.booleans(),
)
def test_any_signed_json_gets_a_4xx_or_is_accepted(client, partner_credentials, value, start_valid):
    if isinstance(value, dict) and start_valid:
        value = {"idempotency_key": "k1", "text": "x", **value}
    response = post_partner(
        client, partner_credentials.api_key, partner_credentials.signing_secret, json.dumps(value).encode()
    )
    assert response.status_code in (200, 202, 409, 422), response.text
