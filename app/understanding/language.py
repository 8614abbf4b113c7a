"""Language detection by marker words and alert vocabulary, tuned for short, misspelled SMS (pure)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from app.understanding.lexicon import Lexicon
from app.understanding.text import arabic_share

ARABIC_SCRIPT_THRESHOLD = 0.5
KEYWORD_WEIGHT = 0.75
# French is the lingua franca of written alerts in the region: it wins ties, and loanwords count for it.
PRIOR = {"fr": 0.3, "en": 0.1}


def detect(words: Sequence[str], raw: str, lexicons: Mapping[str, Lexicon]) -> tuple[str | None, float]:
    """The most likely language and a 0–1 confidence; (None, 0) when nothing points anywhere."""
    if "ar" in lexicons and arabic_share(raw) >= ARABIC_SCRIPT_THRESHOLD:
        return "ar", 0.95
    scores: dict[str, float] = {}
    for code, lexicon in lexicons.items():
        if code == "ar":
            continue
        markers = sum(1.0 for w in words if w in lexicon.markers)
        keywords = sum(hit.weight for hit in lexicon.categories.find(words))
        keywords += sum(hit.weight for hit in lexicon.counts.find(words)) * 0.5
        if markers or keywords:
            scores[code] = markers + KEYWORD_WEIGHT * keywords + PRIOR.get(code, 0.0)
    if not scores:
        return None, 0.0
    ranked = sorted(scores.items(), key=lambda item: item[1], reverse=True)
    best, best_score = ranked[0]
    runner_up = ranked[1][1] if len(ranked) > 1 else 0.0
    confidence = (best_score - runner_up) / best_score if best_score else 0.0
    return best, round(min(1.0, 0.3 + 0.7 * confidence), 3)
