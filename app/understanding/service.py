"""Parse one message into language, category, severity, counts and location: the pipeline's code and the CLI's."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

from app.geo.gazetteer import Gazetteer
from app.geo.locate import LocateContext, Location, load_cues, locate
from app.understanding import categorise, language, shortcodes
from app.understanding.lexicon import Lexicon, load_lexicons
from app.understanding.schemas import Command, Counts, Understanding
from app.understanding.text import tokenize

# Messages mix languages: French words turn up in Sango and Lingala SMS, English in everything.
SECONDARY_LEXICONS = (("fr", 0.8), ("en", 0.6))
POSITION_PRECISION_M = 50.0


@dataclass(frozen=True)
class ReporterContext:
    """What is known about the sender that changes how a message is read."""

    kind: str | None = None  # villager, cla, partner_member
    language: str | None = None  # preferred language: wins over detection
    home: tuple[float, float] | None = None
    home_place: str | None = None
    recent: tuple[tuple[float, float], ...] = ()

    @property
    def trusted(self) -> bool:
        return self.kind == "cla"


@dataclass
class ParseResult:
    """Everything understood of one message."""

    understanding: Understanding
    location: Location
    parse_ms: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The `kengele parse` output: plain JSON values, no personal data."""
        u = self.understanding
        return {
            "language": u.language,
            "detected_language": u.detected_language,
            "language_confidence": u.language_confidence,
            "category": u.category,
            "categories": u.categories,
            "negated": u.negated,
            "severity": u.severity,
            "counts": asdict(u.counts),
            "weapons": u.weapons,
            "short_code": u.short_code,
            "command": asdict(u.command) if u.command else None,
            "error": u.error,
            "location": asdict(self.location),
            "parse_ms": round(self.parse_ms, 3),
        }


class MessageParser:
    """Holds the lexicons and the gazetteer (loaded once) and parses messages with them."""

    def __init__(self, gazetteer: Gazetteer, lexicons: dict[str, Lexicon] | None = None) -> None:
        self.gazetteer = gazetteer
        self.lexicons = lexicons or load_lexicons()
        # Words that are also place names only count as places when capitalised.
        self.stop_words = frozenset().union(
            *(lex.markers | lex.negations | frozenset(lex.numbers) for lex in self.lexicons.values()),
            load_cues().words,
        )

    def parse(self, text: str, *, language: str | None = None, reporter: ReporterContext | None = None) -> ParseResult:
        """Understand and locate one message."""
        started = time.perf_counter()
        reporter = reporter or ReporterContext()
        tokens = tokenize(text)
        words = [t.text for t in tokens]
        detected, confidence = language_detect(words, text, self.lexicons)
        chosen = language or reporter.language or detected
        context = LocateContext(reporter.home, reporter.home_place, reporter.recent)
        try:
            code = shortcodes.parse(text, trusted=reporter.trusted)
        except shortcodes.ShortCodeError as exc:
            result = self._broken_code(str(exc), chosen, detected, confidence, context)
        else:
            if isinstance(code, Command):
                result = self._command(code, chosen, detected, confidence)
            elif isinstance(code, shortcodes.ShortCode):
                result = self._short_code(code, chosen, detected, confidence, context)
            else:
                result = self._free_text(text, tokens, chosen, detected, confidence, context)
        result.parse_ms = (time.perf_counter() - started) * 1000
        return result

    def _lexicons_for(self, code: str | None) -> list[tuple[Lexicon, float]]:
        chosen = [(self.lexicons[code], 1.0)] if code in self.lexicons else []
        for extra, trust in SECONDARY_LEXICONS:
            if extra != code and extra in self.lexicons:
                chosen.append((self.lexicons[extra], trust))
        return chosen

    def _free_text(
        self,
        text: str,
        tokens: list,
        chosen: str | None,
        detected: str | None,
        confidence: float,
        context: LocateContext,
    ) -> ParseResult:
        lexicons = self._lexicons_for(chosen)
        primary = lexicons[0][0] if lexicons else None
        words = primary.correct([t.text for t in tokens]) if primary else [t.text for t in tokens]
        positive, negative, calm = categorise.score_categories(words, lexicons)
        category, ranked, negated = categorise.choose(positive, negative, calm)
        plain = [lex for lex, _ in lexicons]
        counts = categorise.extract_counts(words, plain)
        weapons = categorise.extract_weapons(words, plain)
        understanding = Understanding(
            language=chosen,
            language_confidence=confidence,
            detected_language=detected,
            category=category,
            categories=ranked,
            negated=negated,
            severity=categorise.severity(category, negated, counts, weapons) if text.strip() else "unknown",
            counts=counts,
            weapons=weapons,
        )
        location = locate(text, tokens, self.gazetteer, context=context, stop_words=self.stop_words)
        return ParseResult(understanding, location)

    def _short_code(
        self, code: shortcodes.ShortCode, chosen: str | None, detected: str | None, confidence: float,
        context: LocateContext,
    ) -> ParseResult:  # fmt: skip
        weapons = categorise.extract_weapons(
            [t.text for t in tokenize(code.free_text)], [lex for lex, _ in self._lexicons_for(chosen)]
        )
        understanding = Understanding(
            language=chosen,
            language_confidence=confidence,
            detected_language=detected,
            category=code.category,
            categories=[code.category],
            severity=categorise.severity(code.category, False, code.counts, weapons),
            counts=code.counts,
            weapons=weapons,
            short_code=True,
            place_text=code.place_text,
        )
        location = locate(code.place_text, tokenize(code.place_text), self.gazetteer, context=context)
        return ParseResult(understanding, location)

    @staticmethod
    def _command(command: Command, chosen: str | None, detected: str | None, confidence: float) -> ParseResult:
        understanding = Understanding(chosen, confidence, detected, None, short_code=True, command=command)
        if command.code == "POS" and command.lat is not None and command.lon is not None:
            location = Location(command.lat, command.lon, POSITION_PRECISION_M, "coordinates", confidence=0.95)
        else:
            location = Location(None, None, None, "unlocated")
        return ParseResult(understanding, location)

    def _broken_code(
        self, error: str, chosen: str | None, detected: str | None, confidence: float, context: LocateContext
    ) -> ParseResult:
        understanding = Understanding(chosen, confidence, detected, None, short_code=True, error=error, counts=Counts())
        location = locate("", [], self.gazetteer, context=context)
        return ParseResult(understanding, location)


def language_detect(words: list[str], text: str, lexicons: dict[str, Lexicon]) -> tuple[str | None, float]:
    """Detect the language of a message (see app.understanding.language)."""
    return language.detect(words, text, lexicons)
