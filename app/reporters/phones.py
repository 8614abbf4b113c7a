"""Phone numbers: E.164 normalisation and masking (pure; no database)."""

from __future__ import annotations

from functools import lru_cache

import phonenumbers

# Senders repeat (a flood is many messages from fewer phones), and parsing is the costliest step of a message's
# intake that is not the network or the database: remember recent answers. Memory only, never logged.
RECENT_NUMBERS = 4096


@lru_cache(maxsize=RECENT_NUMBERS)
def to_e164(raw: str, default_region: str) -> str | None:
    """Return the number in E.164, or None when it cannot be a phone number."""
    try:
        number = phonenumbers.parse(raw, default_region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def sender_key(raw: str, default_region: str) -> str:
    """The canonical form a sender is hashed under: E.164 when parseable, else the trimmed raw address."""
    return to_e164(raw, default_region) or raw.strip()


def mask(e164: str) -> str:
    """Show a number the way operators may see it: country code and last two digits only."""
    try:
        country = phonenumbers.parse(e164).country_code
    except phonenumbers.NumberParseException:
        return "••••"
    digits = e164.lstrip("+")
    national = digits[len(str(country)) :]
    return f"+{country} {'•' * max(len(national) - 2, 0)}{national[-2:]}"
