"""Place-name normalisation shared by the gazetteer and the matcher (pure)."""

from __future__ import annotations

import re
import unicodedata

_SEPARATORS = re.compile(r"[\s'’`\-_.,/()]+")
# "Danda II" and "Danda 2" are the same village; numbered villages are common in the region.
ROMAN = {"i": "1", "ii": "2", "iii": "3", "iv": "4", "v": "5", "vi": "6", "vii": "7", "viii": "8", "ix": "9", "x": "10"}
# Sounds spelled several ways in French, English and local transcriptions, folded for fuzzy comparison.
_PHONETIC = [("dj", "j"), ("dy", "j"), ("ou", "u"), ("w", "u"), ("y", "i"), ("ph", "f"), ("c", "k"), ("q", "k"),
             ("z", "s"), ("h", "")]  # fmt: skip
_DOUBLED = re.compile(r"(.)\1+")
_DI_VOWEL = re.compile(r"di(?=[aeiou])")


def search_name(name: str) -> str:
    """Lower-case, strip diacritics, fold punctuation and spaces, and write trailing Roman numerals as digits."""
    decomposed = unicodedata.normalize("NFKD", name)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return arabic_numerals(_SEPARATORS.sub(" ", stripped.casefold()).strip())


def arabic_numerals(folded: str) -> str:
    """Turn a trailing Roman numeral into digits ("botto iii" → "botto 3"); the first word is never one."""
    head, _, last = folded.rpartition(" ")
    if head and last in ROMAN:
        return f"{head} {ROMAN[last]}"
    return folded


def base_name(folded: str) -> str | None:
    """The name without its trailing number ("botto 3" → "botto"), or None when it has none."""
    head, _, last = folded.rpartition(" ")
    return head if head and last.isdigit() else None


def skeleton(folded: str) -> str:
    """A rough phonetic key: "Kpakaga"/"Kpakaya", "Bodiomo"/"Bodjomo" and "Betta"/"Beta" come closer."""
    folded = _DI_VOWEL.sub("j", folded)
    for old, new in _PHONETIC:
        folded = folded.replace(old, new)
    return _DOUBLED.sub(r"\1", folded)
