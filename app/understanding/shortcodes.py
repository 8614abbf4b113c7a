"""CLA short codes and reply codes (pure).

Grammar (case, spacing and the order of counts are free):

    A <place> <code> [<n>] [<n>D] [<n>W] [<n>K] [free text]     alert from a trusted reporter
    POS <lat> <lon>                                            a patrol's position, decimal degrees
    ACK <ref> | CONFIRM <ref> | FALSE <ref>                    acknowledge, confirm or deny incident <ref>

Codes: AT attack on civilians, AB abduction, SV sexual violence, CL armed clash, AP armed presence or
movement, TH threat, LO looting, BU burning, GF gunfire, DP displacement, OT other. A bare number counts
armed men; D dead (also M, morts), W wounded (also B, blessés), K kidnapped (also E, enlevés).
References look like K-4821 (K4821 and 4821 are read the same).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from app.understanding.schemas import Command, Counts

ALERT_CODES = {
    "AT": "attack_civilians",
    "AB": "abduction",
    "SV": "sexual_violence",
    "CL": "armed_clash",
    "AP": "armed_presence",
    "TH": "threat",
    "LO": "looting",
    "BU": "burning",
    "GF": "gunfire",
    "DP": "displacement",
    "OT": "other",
}
ALERT_KEYWORDS = {"A", "ALERT", "ALERTE"}
COMMAND_KEYWORDS = {
    "POS": "POS", "POSITION": "POS",
    "ACK": "ACK", "ACQ": "ACK",
    "CONFIRM": "CONFIRM", "CONFIRME": "CONFIRM", "CONF": "CONFIRM",
    "FALSE": "FALSE", "FAUX": "FALSE",
}  # fmt: skip
COUNT_SUFFIX = {"": "armed", "A": "armed", "D": "dead", "M": "dead", "W": "wounded", "B": "wounded", "K": "abducted",
                "E": "abducted"}  # fmt: skip
_COUNT = re.compile(r"^(\d{1,4})([ADMWBKE]?)$", re.IGNORECASE)
_REF = re.compile(r"^K?-?([0-9A-Z]{3,8})$", re.IGNORECASE)
_LIST_COMMA = re.compile(r",(?!\d)|(?<!\d),")  # a comma between words, not a decimal comma
_DECIMAL = re.compile(r"^[+-]?\d{1,3}(?:[.,]\d+)?$")

HELP = {
    "fr": "Format: A <lieu> <code> [nb] [3D morts] [2W blesses] [texte]. Codes: AT attaque, AB enlevement, SV viol, "
    "CL combat, AP presence armee, TH menace, LO pillage, BU incendie, GF tirs, DP fuite, OT autre. "
    "Ex: A Bria AT 20 3D. Aussi: POS lat lon, ACK K-1234, CONFIRM K-1234, FALSE K-1234",
    "en": "Format: A <place> <code> [n] [3D dead] [2W wounded] [text]. Codes: AT attack, AB abduction, SV rape, "
    "CL clash, AP armed presence, TH threat, LO looting, BU burning, GF gunfire, DP fleeing, OT other. "
    "Ex: A Bria AT 20 3D. Also: POS lat lon, ACK K-1234, CONFIRM K-1234, FALSE K-1234",
}


@dataclass
class ShortCode:
    """A parsed alert short code."""

    category: str
    place_text: str
    counts: Counts = field(default_factory=Counts)
    free_text: str = ""


class ShortCodeError(ValueError):
    """The message looks like a code but does not follow the grammar; str() explains the problem."""


def help_text(language: str | None) -> str:
    """The format reminder sent back to a reporter whose code could not be read."""
    return HELP.get(language or "", HELP["fr"])


def parse(text: str, *, trusted: bool) -> ShortCode | Command | None:
    """Read a short code or reply code; None for free text. Raises ShortCodeError for a broken code.

    Only trusted reporters (CLAs) get alert codes in any case; from others an alert code must use upper-case
    category codes, because "A Bria at the market…" is a sentence, not a code.
    """
    tokens = _LIST_COMMA.sub(" ", text).split()
    if not tokens:
        return None
    keyword = tokens[0].upper().rstrip(":")
    if keyword in COMMAND_KEYWORDS:
        return _command(COMMAND_KEYWORDS[keyword], tokens[1:], strict=trusted)
    if keyword in ALERT_KEYWORDS:
        return _alert(tokens[1:], trusted=trusted)
    return None


def _command(code: str, args: list[str], *, strict: bool) -> Command | None:
    if code == "POS":
        if len(args) >= 2 and _DECIMAL.match(args[0]) and _DECIMAL.match(args[1]):
            lat, lon = (float(a.replace(",", ".")) for a in args[:2])
            if -90 <= lat <= 90 and -180 <= lon <= 180:
                return Command("POS", lat=lat, lon=lon)
        if strict:
            raise ShortCodeError("POS needs latitude and longitude in decimal degrees, e.g. POS 6.9869 21.1566")
        return None
    match = _REF.match(args[0]) if args else None
    if match and any(ch.isdigit() for ch in match.group(1)):
        return Command(code, ref=f"K-{match.group(1).upper()}")
    if strict:
        raise ShortCodeError(f"{code} needs an incident reference, e.g. {code} K-4821")
    return None


def _alert(tokens: list[str], *, trusted: bool) -> ShortCode | None:
    code_at = next((i for i, t in enumerate(tokens[:6]) if t.upper() in ALERT_CODES and (trusted or t.isupper())), None)
    if code_at is None:
        if trusted:
            raise ShortCodeError("no category code (AT, AB, SV, CL, AP, TH, LO, BU, GF, DP, OT)")
        return None
    category = ALERT_CODES[tokens[code_at].upper()]
    if code_at > 0:
        place, rest = tokens[:code_at], tokens[code_at + 1 :]
    else:  # "A AT Bria 3": the place follows the code, up to the first count
        rest_tokens = tokens[1:]
        stop = next((i for i, t in enumerate(rest_tokens) if _COUNT.match(t)), len(rest_tokens))
        place, rest = rest_tokens[:stop], rest_tokens[stop:]
    if not place:
        if trusted:
            raise ShortCodeError("no place name before the category code")
        return None
    counts, free = Counts(), []
    for i, token in enumerate(rest):
        match = _COUNT.match(token)
        if not match:
            free = rest[i:]
            break
        field_name = COUNT_SUFFIX[match.group(2).upper()]
        setattr(counts, field_name, int(match.group(1)))
    return ShortCode(category, " ".join(place), counts, " ".join(free))
