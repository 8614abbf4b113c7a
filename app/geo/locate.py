"""Where a report happened: coordinates, gazetteer names despite misspellings, relative phrases (pure)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from app.geo import distance
from app.geo.coordinates import find_coordinates
from app.geo.gazetteer import Gazetteer, PlaceRecord
from app.understanding.text import Token, fold

RELATIVE_FILE = Path(__file__).with_name("relative.json")
# Fuzzy name matching: short names need a closer match, since "Bria" and "Boda" are one edit apart.
FUZZY_CUTOFF_LONG = 86.0
FUZZY_CUTOFF_SHORT = 90.0
FUZZY_MIN_CHARS = 5
NEAR_PRECISION_M = 7000.0
HOME_PRECISION_M = 15000.0
AXIS_ONLY_PRECISION_M = 20000.0
# Roads wind and distances are guessed: an offset along a bearing is good to about a third of its length.
OFFSET_UNCERTAINTY = 0.35
LIST_RADIUS_M = 60000.0  # places listed together closer than this are treated as one area


@dataclass(frozen=True)
class Location:
    """Where, how sure, and how it was found. Method "unlocated" has no coordinates."""

    lat: float | None
    lon: float | None
    precision_m: float | None
    method: str  # coordinates, gazetteer, relative, axis, reporter_home, unlocated
    place: str | None = None
    place_id: int | None = None
    matched_text: str | None = None
    confidence: float = 0.0


UNLOCATED = Location(None, None, None, "unlocated")


@dataclass(frozen=True)
class LocateContext:
    """What we know about the sender that helps: their registered home, recent incident positions."""

    home: tuple[float, float] | None = None
    home_place: str | None = None
    recent: tuple[tuple[float, float], ...] = ()


@dataclass
class Mention:
    """A place name found at tokens [start, end)."""

    start: int
    end: int
    candidates: list[PlaceRecord]
    score: float
    text: str
    near: bool = False
    offset_m: float | None = None
    bearing: float | None = None
    axis: bool = False
    chosen: PlaceRecord | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Cues:
    """The folded relative-phrase vocabulary."""

    near: tuple[tuple[str, ...], ...]
    from_words: frozenset[str]
    filler: frozenset[str]
    units: frozenset[str]
    axis: frozenset[str]
    directions: dict[tuple[str, ...], float]


@lru_cache
def load_cues(path: Path = RELATIVE_FILE) -> Cues:
    """The relative-phrase cue words, loaded once."""
    data = json.loads(path.read_text(encoding="utf-8"))

    def phrases(key: str) -> tuple[tuple[str, ...], ...]:
        return tuple(sorted({tuple(fold(p).split()) for p in data[key]}, key=len, reverse=True))

    return Cues(
        near=phrases("near"),
        from_words=frozenset(fold(w) for w in data["from"]),
        filler=frozenset(fold(w) for w in data["filler"]),
        units=frozenset(fold(w) for w in data["distance_units"]),
        axis=frozenset(fold(w) for w in data["axis"]),
        directions={tuple(fold(k).replace("-", " ").split()): float(v) for k, v in data["directions"].items()},
    )


def find_mentions(
    words: Sequence[str], raw_tokens: Sequence[str], gazetteer: Gazetteer, stop_words: frozenset[str]
) -> list[Mention]:
    """Longest non-overlapping place names in the text, exact first, then fuzzy."""
    mentions: list[Mention] = []
    i = 0
    while i < len(words):
        mention = _exact_at(i, words, raw_tokens, gazetteer, stop_words) or _fuzzy_at(i, words, gazetteer, stop_words)
        if mention is None:
            i += 1
            continue
        mentions.append(mention)
        i = mention.end
    return mentions


def _exact_at(
    i: int, words: Sequence[str], raw_tokens: Sequence[str], gazetteer: Gazetteer, stop_words: frozenset[str]
) -> Mention | None:
    for n in range(min(gazetteer.max_words, len(words) - i), 0, -1):
        phrase = " ".join(words[i : i + n])
        if n == 1 and (len(phrase) < 3 or phrase.isdigit()):
            continue
        # A place called like a common word ("Bo", "Nana") counts only when written with a capital.
        if n == 1 and phrase in stop_words and not raw_tokens[i][:1].isupper():
            continue
        places = gazetteer.exact(phrase)
        if places:
            return Mention(i, i + n, list(places), 100.0, phrase)
    return None


def _fuzzy_at(i: int, words: Sequence[str], gazetteer: Gazetteer, stop_words: frozenset[str]) -> Mention | None:
    for n in range(min(3, gazetteer.max_words, len(words) - i), 0, -1):
        span = words[i : i + n]
        if span[0] in stop_words or span[-1] in stop_words or any(any(c.isdigit() for c in w) for w in span):
            continue
        phrase = " ".join(span)
        if len(phrase) < FUZZY_MIN_CHARS:
            continue
        cutoff = FUZZY_CUTOFF_LONG if len(phrase) >= 8 else FUZZY_CUTOFF_SHORT
        best = gazetteer.fuzzy(phrase, cutoff)
        if best is not None:
            return Mention(i, i + n, list(gazetteer.exact(best[0])), best[1], phrase)
    return None


def _number(word: str) -> float | None:
    try:
        return float(word.replace(",", "."))
    except ValueError:
        return None


def attach_relations(mentions: list[Mention], words: Sequence[str], cues: Cues) -> None:
    """Mark each mention as near, offset (distance and bearing) or an axis, from the words around it."""
    for mention in mentions:
        j = mention.start
        while j > 0 and (words[j - 1] in cues.filler or words[j - 1] in cues.from_words):
            j -= 1
        mention.near = any(
            tuple(words[max(0, end - len(p)) : end]) == p for p in cues.near for end in {j, mention.start}
        )
        mention.axis = (j > 0 and words[j - 1] in cues.axis) or (
            mention.end < len(words) and words[mention.end] in cues.axis
        )
        _attach_offset(mention, words, j, cues)


def _attach_offset(mention: Mention, words: Sequence[str], j: int, cues: Cues) -> None:
    for size in (2, 1):
        direction = tuple(words[max(0, j - size) : j])
        if len(direction) == size and direction in cues.directions:
            mention.bearing = cues.directions[direction]
            j -= size
            break
    if j >= 2 and words[j - 1] in cues.units and (value := _number(words[j - 2])) is not None:
        mention.offset_m = value * 1000
    elif j >= 1 and words[j - 1].endswith("km") and (value := _number(words[j - 1][:-2])) is not None:
        mention.offset_m = value * 1000  # "13km"
    if mention.offset_m is None:
        mention.bearing = None  # a direction word without a distance is just a word


def choose_candidates(mentions: list[Mention], context: LocateContext) -> None:
    """Among places sharing a name, take the one nearest the sender's home or recent incidents, else the biggest."""
    anchors = ([context.home] if context.home else []) + list(context.recent)
    unique = [m.candidates[0] for m in mentions if len(m.candidates) == 1]
    anchors += [(p.lat, p.lon) for p in unique]
    for mention in mentions:
        if len(mention.candidates) == 1 or not anchors:
            mention.chosen = min(mention.candidates, key=lambda p: p.size_rank)
            continue
        mention.chosen = min(
            mention.candidates,
            key=lambda p: min(distance.haversine_m(p.lat, p.lon, a[0], a[1]) for a in anchors),
        )


def locate(
    text: str,
    tokens: Sequence[Token],
    gazetteer: Gazetteer,
    *,
    context: LocateContext | None = None,
    stop_words: frozenset[str] = frozenset(),
) -> Location:
    """Find where the text says something happened; falls back to the sender's home, else unlocated."""
    context = context or LocateContext()
    coordinates = find_coordinates(text)
    if coordinates is not None:
        return Location(coordinates.lat, coordinates.lon, coordinates.precision_m, "coordinates",
                        matched_text=coordinates.text, confidence=0.95)  # fmt: skip
    words = [t.text for t in tokens]
    raw_tokens = [text[t.start : t.end] if t.end <= len(text) else t.text for t in tokens]
    mentions = find_mentions(words, raw_tokens, gazetteer, stop_words)
    if mentions:
        attach_relations(mentions, words, load_cues())
        choose_candidates(mentions, context)
        location = _from_mentions(mentions)
        if location is not None:
            return location
    if context.home is not None:
        return Location(context.home[0], context.home[1], HOME_PRECISION_M, "reporter_home",
                        place=context.home_place, confidence=0.3)  # fmt: skip
    return UNLOCATED


def _confidence(mention: Mention) -> float:
    return round(0.9 * mention.score / 100, 3)


def _from_mentions(mentions: list[Mention]) -> Location | None:
    subjects = [m for m in mentions if m.offset_m is None and not m.axis]
    if subjects:
        return _subject_location(subjects)
    anchored = [m for m in mentions if m.offset_m is not None]
    if anchored:
        axis_targets = [m for m in mentions if m.axis and m.offset_m is None]
        return _offset_location(anchored[0], axis_targets[0] if axis_targets else None)
    return _axis_location([m for m in mentions if m.axis])


def _subject_location(subjects: list[Mention]) -> Location:
    first = subjects[0]
    place = first.chosen
    assert place is not None
    together = [m for m in subjects if m.chosen and distance.haversine_m(
        place.lat, place.lon, m.chosen.lat, m.chosen.lon) <= LIST_RADIUS_M]  # fmt: skip
    if len(together) > 1:
        # A list of nearby villages: the centre of them, with a radius that covers them all.
        lat = sum(m.chosen.lat for m in together) / len(together)  # type: ignore[union-attr]
        lon = sum(m.chosen.lon for m in together) / len(together)  # type: ignore[union-attr]
        radius = max(distance.haversine_m(lat, lon, m.chosen.lat, m.chosen.lon) + m.chosen.precision_m
                     for m in together)  # type: ignore[union-attr]  # fmt: skip
        text = ", ".join(m.text for m in together)
        return Location(round(lat, 6), round(lon, 6), round(radius), "gazetteer", place.name, None, text, 0.6)
    precision = max(place.precision_m, NEAR_PRECISION_M) if first.near else place.precision_m
    method = "relative" if first.near else "gazetteer"
    confidence = _confidence(first) * (0.9 if first.near else 1.0)
    return Location(place.lat, place.lon, precision, method, place.name, place.id, first.text, round(confidence, 3))


def _offset_location(anchor: Mention, axis_target: Mention | None) -> Location:
    place = anchor.chosen
    assert place is not None and anchor.offset_m is not None
    bearing, method = anchor.bearing, "relative"
    if bearing is None and axis_target is not None and axis_target.chosen is not None:
        target = axis_target.chosen
        bearing, method = distance.bearing_deg(place.lat, place.lon, target.lat, target.lon), "axis"
    if bearing is None:
        # "13 km from Bria", no direction: somewhere on a circle around Bria; the centre is honest, the radius wide.
        return Location(place.lat, place.lon, round(anchor.offset_m + place.precision_m), "relative",
                        place.name, place.id, anchor.text, round(_confidence(anchor) * 0.6, 3))  # fmt: skip
    lat, lon = distance.destination(place.lat, place.lon, bearing, anchor.offset_m)
    precision = OFFSET_UNCERTAINTY * anchor.offset_m + place.precision_m
    return Location(round(lat, 6), round(lon, 6), round(precision), method, place.name, place.id, anchor.text,
                    round(_confidence(anchor) * 0.7, 3))  # fmt: skip


def _axis_location(axes: list[Mention]) -> Location | None:
    places = [m.chosen for m in axes if m.chosen is not None]
    if not places:
        return None
    if len(places) >= 2:
        a, b = places[0], places[1]
        lat, lon = (a.lat + b.lat) / 2, (a.lon + b.lon) / 2
        half = distance.haversine_m(a.lat, a.lon, b.lat, b.lon) / 2
        return Location(round(lat, 6), round(lon, 6), round(half + a.precision_m), "axis", f"{a.name}–{b.name}",
                        None, " ".join(m.text for m in axes[:2]), 0.4)  # fmt: skip
    place = places[0]
    return Location(place.lat, place.lon, AXIS_ONLY_PRECISION_M, "axis", place.name, place.id, axes[0].text, 0.4)
