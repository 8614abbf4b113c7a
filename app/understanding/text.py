"""Text normalisation and tokens shared by language detection, lexicons and the locator (pure)."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

# Arabic: drop short vowels and tatweel, fold alef/ya/ta marbuta variants, so spellings meet.
_ARABIC_FOLD = str.maketrans({"أ": "ا", "إ": "ا", "آ": "ا", "ٱ": "ا", "ى": "ي", "ة": "ه", "ؤ": "و", "ئ": "ي"})
_ARABIC_MARKS = re.compile(r"[\u064B-\u065F\u0670\u0640]")
_TOKEN = re.compile(r"[^\W_]+", re.UNICODE)
_ARABIC_LETTER = re.compile(r"[\u0600-\u06FF]")


def fold(text: str) -> str:
    """Lower-case, strip Latin diacritics, fold Arabic variants; keeps letters, digits and spacing."""
    text = _ARABIC_MARKS.sub("", text).translate(_ARABIC_FOLD)
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


@dataclass(frozen=True)
class Token:
    """A folded word and where it stood in the original text."""

    text: str
    start: int
    end: int


def tokenize(text: str) -> list[Token]:
    """Split text into folded word tokens, keeping their character spans in the original."""
    folded = fold(text)
    if len(folded) != len(text):
        # NFKD can change length (ligatures); spans are then taken from the folded text itself.
        text = folded
    return [Token(m.group(), m.start(), m.end()) for m in _TOKEN.finditer(folded)]


def arabic_share(text: str) -> float:
    """Share of letters that are Arabic script."""
    letters = [ch for ch in text if ch.isalpha()]
    if not letters:
        return 0.0
    return sum(1 for ch in letters if _ARABIC_LETTER.match(ch)) / len(letters)
