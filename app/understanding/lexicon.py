"""Lexicons: per-language data files (lexicons/*.json) compiled into phrase matchers (pure)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from rapidfuzz import fuzz, process
from rapidfuzz.distance import Levenshtein

from app.understanding.text import fold

LEXICON_DIR = Path(__file__).with_name("lexicons")
# Misspellings: a whole word within this similarity of a lexicon word counts as that word.
FUZZY_WORD_CUTOFF = 84
FUZZY_MIN_LENGTH = 5
FUZZY_SHORT_WORD_CUTOFF = 90  # five or six letters


@dataclass(frozen=True)
class TokenPattern:
    """One word of a phrase: exact, prefix (`word*`), suffix (`*word`) or infix (`*word*`)."""

    text: str
    kind: str  # exact, prefix, suffix, infix

    @classmethod
    def parse(cls, raw: str) -> TokenPattern:
        starts, ends = raw.startswith("*"), raw.endswith("*")
        core = raw.strip("*")
        kind = "infix" if starts and ends else "suffix" if starts else "prefix" if ends else "exact"
        return cls(core, kind)

    def matches(self, word: str) -> bool:
        if self.kind == "exact":
            return word == self.text
        if self.kind == "prefix":
            return word.startswith(self.text)
        if self.kind == "suffix":
            return word.endswith(self.text)
        return self.text in word


@dataclass(frozen=True)
class Phrase:
    """A pattern of one or more words with the label it stands for; "text|2" doubles its weight."""

    label: str
    words: tuple[TokenPattern, ...]
    boost: float = 1.0

    @property
    def weight(self) -> float:
        # Longer phrases are more specific: "hommes armes" says more than "armes".
        return float(len(self.words)) * self.boost

    @classmethod
    def parse(cls, label: str, pattern: str) -> Phrase:
        text, _, boost = pattern.partition("|")
        return cls(label, tuple(TokenPattern.parse(w) for w in fold(text).split()), float(boost or 1))


@dataclass(frozen=True)
class Hit:
    """A phrase found at token positions [start, end)."""

    label: str
    start: int
    end: int
    weight: float


class PhraseMatcher:
    """Finds labelled phrases in a token list."""

    CACHE_LIMIT = 50_000

    def __init__(self, entries: Iterable[tuple[str, str]]) -> None:
        self.phrases = [Phrase.parse(label, pattern) for label, pattern in entries]
        self.phrases = [p for p in self.phrases if p.words]
        self._by_first: dict[str, list[Phrase]] = {}
        self._prefix_by_initial: dict[str, list[Phrase]] = {}  # "attaqu*" can only start a word with "a"
        self._other_wild: list[Phrase] = []
        for phrase in self.phrases:
            first = phrase.words[0]
            if first.kind == "exact":
                self._by_first.setdefault(first.text, []).append(phrase)
            elif first.kind == "prefix" and first.text:
                self._prefix_by_initial.setdefault(first.text[0], []).append(phrase)
            else:
                self._other_wild.append(phrase)
        # Words recur across messages and lexicons: remember which phrases a word can start.
        self._starts: dict[str, tuple[Phrase, ...]] = {}

    def _starting_with(self, word: str) -> tuple[Phrase, ...]:
        cached = self._starts.get(word)
        if cached is None:
            wild = [p for p in self._prefix_by_initial.get(word[:1], ()) if p.words[0].matches(word)]
            wild += [p for p in self._other_wild if p.words[0].matches(word)]
            cached = tuple(self._by_first.get(word, ())) + tuple(wild)
            if len(self._starts) >= self.CACHE_LIMIT:
                self._starts.clear()
            self._starts[word] = cached
        return cached

    def find(self, words: Sequence[str]) -> list[Hit]:
        """Every phrase occurrence, longest first at each position; overlapping hits are kept."""
        hits = []
        for i, word in enumerate(words):
            for phrase in self._starting_with(word):
                end = i + len(phrase.words)
                if end <= len(words) and all(w.matches(words[i + k]) for k, w in enumerate(phrase.words[1:], 1)):
                    hits.append(Hit(phrase.label, i, end, phrase.weight))
        return hits


@dataclass
class Lexicon:
    """Everything Kengele knows about one language's alert vocabulary."""

    code: str
    name: str
    markers: frozenset[str]
    numbers: dict[str, int]
    negations: frozenset[str]
    negation_after: bool  # Sango and Lingala negate after the verb ("afa zo pepe", "babomi te")
    number_after_noun: bool  # "bato misato", "watu watano": the count follows what it counts
    categories: PhraseMatcher
    calm: PhraseMatcher
    counts: PhraseMatcher
    weapons: PhraseMatcher
    vocabulary: list[str] = field(default_factory=list)
    stems: list[str] = field(default_factory=list)

    def correct(self, words: list[str]) -> list[str]:
        """Replace misspelled words by the lexicon word they most resemble, when close enough."""
        corrected = []
        for word in words:
            if len(word) < FUZZY_MIN_LENGTH or word.isdigit() or word in self._known:
                corrected.append(word)
                continue
            corrected.append(self._closest(word) or word)
        return corrected

    def _closest(self, word: str) -> str | None:
        for stem in self.stems:
            if word.startswith(stem):
                return None  # already matches a prefix pattern
        # Short words are one letter from many others: ask more of them before calling them a misspelling.
        cutoff = FUZZY_WORD_CUTOFF if len(word) >= 7 else FUZZY_SHORT_WORD_CUTOFF
        best = process.extractOne(word, self.vocabulary, scorer=fuzz.ratio, score_cutoff=cutoff)
        if best is not None:
            return best[0]
        for stem in self.stems:
            # A misspelt stem: "atak…" for "attaqu…", one edit allowed on stems of five letters or more.
            if len(stem) >= FUZZY_MIN_LENGTH and Levenshtein.distance(word[: len(stem)], stem) <= 1:
                return stem + word[len(stem) :]
        return None

    @property
    def _known(self) -> frozenset[str]:
        return self.__dict__.setdefault("_known_words", frozenset(self.vocabulary) | self.markers)


def _entries(mapping: dict[str, list[str]]) -> list[tuple[str, str]]:
    return [(label, pattern) for label, patterns in mapping.items() for pattern in patterns]


def _vocabulary(matchers: Iterable[PhraseMatcher]) -> tuple[list[str], list[str]]:
    exact, stems = set(), set()
    for matcher in matchers:
        for phrase in matcher.phrases:
            for word in phrase.words:
                if word.kind == "exact" and len(word.text) >= FUZZY_MIN_LENGTH:
                    exact.add(word.text)
                elif word.kind == "prefix":
                    stems.add(word.text)
    return sorted(exact), sorted(stems, key=len, reverse=True)


def compile_lexicon(data: dict) -> Lexicon:
    """Build a Lexicon from the parsed contents of one lexicons/<code>.json file."""
    categories = PhraseMatcher(_entries(data.get("categories", {})))
    counts = PhraseMatcher(_entries(data.get("counts", {})))
    weapons = PhraseMatcher(_entries(data.get("weapons", {})))
    calm = PhraseMatcher(("calm", p) for p in data.get("calm", []))
    vocabulary, stems = _vocabulary([categories, counts, weapons, calm])
    return Lexicon(
        code=data["language"],
        name=data.get("name", data["language"]),
        markers=frozenset(fold(m) for m in data.get("markers", [])),
        numbers={fold(k): int(v) for k, v in data.get("numbers", {}).items()},
        negations=frozenset(fold(n) for n in data.get("negations", [])),
        negation_after=bool(data.get("negation_after", False)),
        number_after_noun=bool(data.get("number_after_noun", False)),
        categories=categories,
        calm=calm,
        counts=counts,
        weapons=weapons,
        vocabulary=vocabulary,
        stems=stems,
    )


@lru_cache
def load_lexicons(directory: Path = LEXICON_DIR) -> dict[str, Lexicon]:
    """Every lexicon in the directory, by language code; loaded once per process."""
    lexicons = {}
    for path in sorted(directory.glob("*.json")):
        lexicon = compile_lexicon(json.loads(path.read_text(encoding="utf-8")))
        lexicons[lexicon.code] = lexicon
    return lexicons
