"""CLA short codes and reply codes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.understanding import shortcodes
from app.understanding.schemas import Command, Counts


@pytest.mark.parametrize(
    ("text", "category", "place", "counts", "free"),
    [
        ("A Bria AT 20 3D", "attack_civilians", "Bria", Counts(dead=3, armed=20), ""),
        ("a kaga bandoro bu 2w 5d ca brule", "burning", "kaga bandoro", Counts(dead=5, wounded=2), "ca brule"),
        ("ALERTE Ndele AB 4K", "abduction", "Ndele", Counts(abducted=4), ""),
        ("A  AP  Bossangoa   30", "armed_presence", "Bossangoa", Counts(armed=30), ""),
        ("A Zemio SV", "sexual_violence", "Zemio", Counts(), ""),
        ("A Sibut GF 2M 1B", "gunfire", "Sibut", Counts(dead=2, wounded=1), ""),
    ],
)  # fmt: skip
def test_alert_codes_from_a_cla(text, category, place, counts, free):
    code = shortcodes.parse(text, trusted=True)
    assert isinstance(code, shortcodes.ShortCode)
    assert (code.category, code.place_text, code.counts, code.free_text) == (category, place, counts, free)


def test_untrusted_senders_need_upper_case_codes():
    assert shortcodes.parse("A Bria at the market armed men came", trusted=False) is None
    assert shortcodes.parse("a bria des hommes armes", trusted=False) is None
    code = shortcodes.parse("A Bria AT 3D", trusted=False)
    assert isinstance(code, shortcodes.ShortCode) and code.counts.dead == 3


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("A Bria des hommes armes", "no category code"),
        ("A AT", "no place name"),
        ("ACK", "incident reference"),
        ("CONFIRM soon", "incident reference"),
        ("POS 6.9", "latitude and longitude"),
        ("POS 96.1 21.0", "latitude and longitude"),
    ],
)
def test_broken_codes_from_a_cla_explain_themselves(text, message):
    with pytest.raises(shortcodes.ShortCodeError, match=message):
        shortcodes.parse(text, trusted=True)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ACK K-4821", Command("ACK", ref="K-4821")),
        ("ack k4821", Command("ACK", ref="K-4821")),
        ("ACK 4821", Command("ACK", ref="K-4821")),
        ("CONFIRM K-4821", Command("CONFIRM", ref="K-4821")),
        ("faux K-77A2", Command("FALSE", ref="K-77A2")),
        ("FALSE: K-4821", Command("FALSE", ref="K-4821")),
        ("POS 6.9869 21.1566", Command("POS", lat=6.9869, lon=21.1566)),
        ("pos -4,32 18,55", Command("POS", lat=-4.32, lon=18.55)),
    ],
)
def test_reply_codes(text, expected):
    assert shortcodes.parse(text, trusted=False) == expected


def test_free_text_is_not_a_code():
    assert shortcodes.parse("Hommes armés à Ndélé", trusted=True) is None
    assert shortcodes.parse("", trusted=True) is None
    assert shortcodes.parse("ACK", trusted=False) is None  # an untrusted sender's stray word is just text


@pytest.mark.parametrize("language", ["fr", "en", None, "sg"])
def test_help_fits_two_sms_and_lists_every_code(language):
    text = shortcodes.help_text(language)
    assert len(text) <= 320
    assert all(code in text for code in shortcodes.ALERT_CODES)


@given(st.text(max_size=120), st.booleans())
def test_any_text_is_a_code_none_or_a_clear_error(text, trusted):
    try:
        result = shortcodes.parse(text, trusted=trusted)
    except shortcodes.ShortCodeError as exc:
        assert trusted and str(exc)
    else:
        assert result is None or isinstance(result, shortcodes.ShortCode | Command)
