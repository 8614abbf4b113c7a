"""Phone normalisation and masking (pure)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.reporters import phones


@pytest.mark.parametrize(
    ("raw", "region", "expected"),
    [
        ("+236 75 12 34 56", "CF", "+23675123456"),
        ("75 12 34 56", "CF", "+23675123456"),
        ("0023675123456", "CF", "+23675123456"),
        ("0812345678", "CD", "+243812345678"),
        ("+243 81 234 5678", "CF", "+243812345678"),  # an explicit country code wins over the region
        ("+1 (234) 901-3030", "CF", "+12349013030"),
        ("not a number", "CF", None),
        ("12", "CF", None),
        ("", "CF", None),
    ],
)
def test_to_e164(raw, region, expected):
    assert phones.to_e164(raw, region) == expected


def test_sender_key_falls_back_to_the_trimmed_raw_address():
    assert phones.sender_key(" 75123456 ", "CF") == "+23675123456"
    assert phones.sender_key(" MTN-Info ", "CF") == "MTN-Info"


@pytest.mark.parametrize(
    ("e164", "masked"),
    [("+23675123456", "+236 ••••••56"), ("+243812345678", "+243 •••••••78"), ("+12349013030", "+1 ••••••••30")],
)
def test_mask_keeps_country_code_and_two_digits(e164, masked):
    assert phones.mask(e164) == masked


@given(st.text(max_size=64), st.sampled_from(["CF", "CD", "SS", "ML", "HT"]))
def test_any_text_normalises_or_is_refused_never_raises(raw, region):
    result = phones.to_e164(raw, region)
    assert result is None or (result.startswith("+") and result[1:].isdigit())
    if result is not None:
        assert phones.mask(result).endswith(result[-2:])
