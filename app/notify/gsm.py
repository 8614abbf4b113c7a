"""SMS segment arithmetic: GSM-7 (3GPP TS 23.038 default alphabet) versus UCS-2, as Twilio bills it."""

from __future__ import annotations

from typing import Literal

Encoding = Literal["GSM-7", "UCS-2"]

# The default alphabet in code-point order, 0x00..0x7F, one row of 16 per line; 0x1B is the escape to the
# extension table and is not a character of its own.
BASIC_TABLE = (
    "@£$¥èéùìòÇ\nØø\rÅå"
    "Δ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ"
    " !\"#¤%&'()*+,-./"
    "0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNO"
    "PQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmno"
    "pqrstuvwxyzäöñüà"
)
# Extension table: each of these is sent as ESC + one septet, so it costs two.
EXTENSION_TABLE = "\f^{}\\[~]|€"

_BASIC = frozenset(BASIC_TABLE) - {"\x1b"}
_EXTENSION = frozenset(EXTENSION_TABLE)

GSM7_SINGLE, GSM7_PART = 160, 153  # a concatenated part loses 7 septets to the 6-byte UDH
UCS2_SINGLE, UCS2_PART = 70, 67


def encoding(text: str) -> Encoding:
    """GSM-7 when every character is in the default or extension table, else UCS-2 for the whole message."""
    return "GSM-7" if all(char in _BASIC or char in _EXTENSION for char in text) else "UCS-2"


def _units(text: str, kind: Encoding) -> list[int]:
    """The cost of each character: septets for GSM-7, UTF-16 code units for UCS-2 (emoji take two)."""
    if kind == "GSM-7":
        return [2 if char in _EXTENSION else 1 for char in text]
    return [2 if ord(char) > 0xFFFF else 1 for char in text]


def _parts(units: list[int], size: int) -> int:
    """Greedy packing: an escape pair or a surrogate pair is never split across two parts."""
    parts, used = 1, 0
    for cost in units:
        if used + cost > size:
            parts, used = parts + 1, 0
        used += cost
    return parts


def segments(text: str) -> int:
    """How many SMS segments Twilio sends (and bills) for `text`; an empty text still takes one."""
    kind = encoding(text)
    units = _units(text, kind)
    single, part = (GSM7_SINGLE, GSM7_PART) if kind == "GSM-7" else (UCS2_SINGLE, UCS2_PART)
    return 1 if sum(units) <= single else _parts(units, part)


def fits_one_segment(text: str) -> bool:
    """True when `text` goes out as a single SMS (160 GSM-7 septets or 70 UCS-2 units)."""
    return segments(text) == 1


def non_gsm_characters(text: str) -> list[str]:
    """The characters that force UCS-2, in order of first appearance (for template linting)."""
    return list(dict.fromkeys(char for char in text if char not in _BASIC and char not in _EXTENSION))
