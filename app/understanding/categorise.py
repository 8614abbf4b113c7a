"""Category, negation, counts, weapons and severity from lexicon hits (pure)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from app.understanding.lexicon import Hit, Lexicon
from app.understanding.schemas import CATEGORIES, Counts

# How much one word of evidence counts per category: actor names and "shots" appear in every kind of
# report, so presence and gunfire need more evidence to win than a rape or an abduction.
CATEGORY_WEIGHT = {
    "sexual_violence": 1.6,
    "abduction": 1.4,
    "armed_clash": 1.3,
    "burning": 1.2,
    "looting": 1.1,
    "threat": 1.1,
    "attack_civilians": 1.0,
    "displacement": 0.8,
    "gunfire": 0.7,
    "armed_presence": 0.5,
    "other": 0.0,
}
# Ties go to the more specific, more serious category.
PRECEDENCE = {code: rank for rank, code in enumerate(CATEGORY_WEIGHT)}
NEGATION_WINDOW = 3
COUNT_WINDOW = 3
# Numbers followed by these are distances, times or dates, not people.
NOT_PEOPLE = frozenset(
    {
        "km",
        "kms",
        "kilometres",
        "kilometers",
        "kilometre",
        "h",
        "heures",
        "hours",
        "hrs",
        "hr",
        "min",
        "minutes",
        "jours",
        "days",
        "ans",
        "years",
        "m",
        "metres",
        "fc",
        "fcfa",
        "cfa",
        "pm",
        "am",
        "mn",
        "e",
        "eme",
        "er",
    }
)
MAX_PLAUSIBLE_COUNT = 5000


@dataclass
class Categorisation:
    """The result of scoring one message against its lexicons."""

    category: str
    categories: list[str]
    negated: bool
    counts: Counts
    weapons: list[str]


def _negated(hit: Hit, words: Sequence[str], lexicon: Lexicon) -> bool:
    if lexicon.negation_after:
        window = words[hit.end : hit.end + NEGATION_WINDOW]
    else:
        window = words[max(0, hit.start - NEGATION_WINDOW) : hit.start]
    return any(w in lexicon.negations for w in window)


def score_categories(
    words: Sequence[str], lexicons: Sequence[tuple[Lexicon, float]]
) -> tuple[dict[str, float], dict[str, float], bool]:
    """Weighted evidence per category, the negated evidence, and whether the text reports calm."""
    positive: dict[str, float] = defaultdict(float)
    negative: dict[str, float] = defaultdict(float)
    calm = False
    for lexicon, trust in lexicons:
        for hit in _longest(lexicon.categories.find(words)):
            weight = hit.weight * CATEGORY_WEIGHT.get(hit.label, 1.0) * trust
            (negative if _negated(hit, words, lexicon) else positive)[hit.label] += weight
        calm = calm or bool(lexicon.calm.find(words))
    return positive, negative, calm


def _longest(hits: list[Hit]) -> list[Hit]:
    """Drop hits inside a longer hit of the same label ("hommes armes" counts once, not with "armes")."""
    kept = []
    for hit in sorted(hits, key=lambda h: (h.start, -(h.end - h.start))):
        if any(k.label == hit.label and k.start <= hit.start and hit.end <= k.end for k in kept):
            continue
        kept.append(hit)
    return kept


def choose(positive: dict[str, float], negative: dict[str, float], calm: bool) -> tuple[str, list[str], bool]:
    """Pick the category: strongest evidence, ties to the more serious; all-negated or calm means 'other'."""
    ranked = sorted(
        (c for c, w in positive.items() if w > 0 and c in CATEGORIES),
        key=lambda c: (-positive[c], PRECEDENCE.get(c, 99)),
    )
    if not ranked:
        return "other", [], bool(negative) or calm
    return ranked[0], ranked, False


def _number(word: str, lexicon: Lexicon) -> int | None:
    if word.isdigit():
        value = int(word)
        return value if 0 < value <= MAX_PLAUSIBLE_COUNT else None
    return lexicon.numbers.get(word)


def extract_counts(words: Sequence[str], lexicons: Sequence[Lexicon]) -> Counts:
    """Attach each number to the count word right after it ("3 morts") or right before it ("bato misato")."""
    counts = Counts()
    nouns = [hit for lexicon in lexicons for hit in lexicon.counts.find(words)]
    noun_first = bool(lexicons) and lexicons[0].number_after_noun
    for i, word in enumerate(words):
        value = next((v for lexicon in lexicons if (v := _number(word, lexicon)) is not None), None)
        if value is None or (i + 1 < len(words) and words[i + 1] in NOT_PEOPLE):
            continue
        after = min((h for h in nouns if i < h.start <= i + COUNT_WINDOW), key=lambda h: h.start - i, default=None)
        before = max((h for h in nouns if i - 2 <= h.end - 1 < i), key=lambda h: h.end, default=None)
        chosen = (before or after) if noun_first else (after or before)
        if chosen is not None and getattr(counts, chosen.label) is None:
            setattr(counts, chosen.label, value)
    return counts


def extract_weapons(words: Sequence[str], lexicons: Sequence[Lexicon]) -> list[str]:
    """Weapon classes mentioned (firearm, bladed, heavy, bow), in a stable order."""
    found = {hit.label for lexicon in lexicons for hit in lexicon.weapons.find(words)}
    return sorted(found)


def severity(category: str, negated: bool, counts: Counts, weapons: list[str]) -> str:
    """A CAP severity from the category, the toll and the weapons."""
    if negated:
        return "minor"
    base = {
        "attack_civilians": "severe",
        "abduction": "severe",
        "sexual_violence": "severe",
        "armed_clash": "severe",
        "burning": "severe",
        "looting": "moderate",
        "threat": "moderate",
        "gunfire": "moderate",
        "displacement": "moderate",
        "armed_presence": "moderate",
    }.get(category, "minor")
    dead, wounded, abducted, armed = (
        (counts.dead or 0),
        (counts.wounded or 0),
        (counts.abducted or 0),
        (counts.armed or 0),
    )
    if dead >= 3 or dead + wounded >= 10 or abducted >= 5 or armed >= 50:
        return "extreme"
    if "heavy" in weapons and base == "severe":
        return "extreme"
    if base != "severe" and (dead or wounded or abducted or armed >= 20):
        return "severe"
    return base
