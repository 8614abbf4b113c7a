"""What Kengele understands of one message: plain values, shared by the pipeline and `kengele parse`."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

CATEGORIES = (
    "attack_civilians",
    "abduction",
    "sexual_violence",
    "armed_clash",
    "armed_presence",
    "threat",
    "looting",
    "burning",
    "gunfire",
    "displacement",
    "other",
)
SEVERITIES = ("extreme", "severe", "moderate", "minor", "unknown")  # CAP 1.2 <severity>, lower-cased


@dataclass
class Counts:
    """Numbers the message states; None where it says nothing."""

    dead: int | None = None
    wounded: int | None = None
    armed: int | None = None
    abducted: int | None = None


@dataclass
class Command:
    """A reply code from a CLA or a unit: ACK, CONFIRM or FALSE with an incident reference, or POS."""

    code: str  # ACK, CONFIRM, FALSE, POS
    ref: str | None = None
    lat: float | None = None
    lon: float | None = None


@dataclass
class Understanding:
    """Language, category, severity and details of one message (location apart)."""

    language: str | None
    language_confidence: float
    detected_language: str | None
    category: str | None
    categories: list[str] = field(default_factory=list)  # every category mentioned, strongest first
    negated: bool = False
    severity: str = "unknown"
    counts: Counts = field(default_factory=Counts)
    weapons: list[str] = field(default_factory=list)
    short_code: bool = False
    command: Command | None = None
    place_text: str | None = None  # the place a short code named
    error: str | None = None  # why a short code could not be read (the help text goes back to the sender)

    def details(self) -> dict[str, Any]:
        """The parts stored in report.details."""
        return {
            "categories": self.categories,
            "negated": self.negated,
            "counts": asdict(self.counts),
            "weapons": self.weapons,
            "short_code": self.short_code,
            "command": asdict(self.command) if self.command else None,
            "language_confidence": round(self.language_confidence, 3),
            "detected_language": self.detected_language,
            "error": self.error,
        }
