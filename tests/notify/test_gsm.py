"""Segment counts against the GSM 03.38 tables (3GPP TS 23.038) and Twilio's 160/153 and 70/67 limits."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.feedback import receipts
from app.notify import gsm

BASIC = [c for c in gsm.BASIC_TABLE if c != "\x1b"]


def test_the_basic_table_is_the_standard_one():
    table = gsm.BASIC_TABLE
    assert len(table) == 128 and len(set(table)) == 128
    # Spot checks against TS 23.038's default alphabet, where it differs from ASCII.
    expected = {
        0x00: "@",
        0x01: "£",
        0x02: "$",
        0x09: "Ç",
        0x10: "Δ",
        0x1B: "\x1b",
        0x24: "¤",
        0x40: "¡",
        0x5B: "Ä",
        0x5F: "§",
        0x60: "¿",
        0x7B: "ä",
        0x7F: "à",
    }
    assert {i: table[i] for i in expected} == expected
    assert table[0x41:0x5B] == "ABCDEFGHIJKLMNOPQRSTUVWXYZ" and table[0x61:0x7B] == "abcdefghijklmnopqrstuvwxyz"
    assert set(gsm.EXTENSION_TABLE) == set("\f^{}\\[]~|€")


@pytest.mark.parametrize(
    ("text", "count"),
    [
        ("a" * 160, 1),
        ("a" * 161, 2),
        ("a" * 306, 2),
        ("a" * 307, 3),
        ("€" * 80, 1),  # 160 septets: every € is ESC + e
        ("€" * 80 + "a", 2),
        ("a" * 159 + "€", 2),
        ("[" + "a" * 158, 1),
        # 306 septets would be two parts, but the € cannot be split across parts: 152 | € + 151 | 1.
        ("a" * 152 + "€" + "a" * 152, 3),
        ("ê" * 70, 1),
        ("ê" * 71, 2),
        ("ê" * 134, 2),
        ("ê" * 135, 3),
        ("😀" * 35, 1),  # 70 UTF-16 units
        ("😀" * 36, 2),
        ("ê" * 66 + "😀" + "ê" * 66, 3),  # a surrogate pair is not split either
        ("", 1),
    ],
)
def test_segment_counts(text, count):
    assert gsm.segments(text) == count
    assert gsm.fits_one_segment(text) == (count == 1)


@pytest.mark.parametrize(
    ("text", "encoding"),
    [
        ("Hommes armés à Bria", "GSM-7"),  # é and à are in the basic table
        ("Fête à Bria", "UCS-2"),  # ê is not
        ("Message reçu", "UCS-2"),  # nor is lowercase ç…
        ("ÇA VA", "GSM-7"),  # …though capital Ç is
        ("Prix 5€ {x}", "GSM-7"),
        ("“quoted”", "UCS-2"),
        ("شكرا", "UCS-2"),
        ("Ayorkpo 13 km", "GSM-7"),
    ],
)
def test_encoding(text, encoding):
    assert gsm.encoding(text) == encoding


def test_one_forbidden_character_switches_the_whole_message():
    text = "a" * 100

    assert gsm.segments(text) == 1
    assert gsm.segments(text + "ê") == 2  # 101 UCS-2 units
    assert gsm.non_gsm_characters("Message reçu, fête") == ["ç", "ê"]


@pytest.mark.parametrize("language", receipts.supported_languages())
def test_every_receipt_fits_one_segment(language):
    assert gsm.fits_one_segment(receipts.receipt_text("ABC123", language))


_any_text = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=600)
_gsm_text = st.text(st.sampled_from(BASIC + list(gsm.EXTENSION_TABLE)), max_size=600)
_mixed = st.one_of(_any_text, _gsm_text)


@given(_mixed, _mixed)
def test_appending_never_needs_fewer_segments(head, tail):
    assert 1 <= gsm.segments(head) <= gsm.segments(head + tail)


@given(st.text(st.sampled_from(BASIC), max_size=1000))
def test_plain_gsm_text_follows_the_160_153_rule(text):
    expected = 1 if len(text) <= 160 else math.ceil(len(text) / 153)
    assert gsm.encoding(text) == "GSM-7" and gsm.segments(text) == expected


@given(st.text(st.characters(max_codepoint=0xFFFF, exclude_categories=["Cs"]), max_size=500))
def test_text_with_one_ucs2_character_follows_the_70_67_rule(text):
    text = "ê" + text
    expected = 1 if len(text) <= 70 else math.ceil(len(text) / 67)
    assert gsm.encoding(text) == "UCS-2" and gsm.segments(text) == expected
