"""Place-name normalisation shared by the gazetteer and the matcher (pure)."""

from __future__ import annotations

import re
import unicodedata

_SEPARATORS = re.compile(r"[\s'’`\-_.,/]+")


def search_name(name: str) -> str:
    """Lower-case, strip diacritics, and fold apostrophes, hyphens and runs of spaces into one space."""
    decomposed = unicodedata.normalize("NFKD", name)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return _SEPARATORS.sub(" ", stripped.casefold()).strip()
