"""Where a report happened: coordinates, gazetteer names despite misspellings, relative phrases (pure)."""

from __future__ import annotations

import itertools
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
FUZZY_CUTOFF_LONG = 84.0  # eight letters or more
FUZZY_CUTOFF_MEDIUM = 85.0  # six or seven
FUZZY_CUTOFF_SHORT = 88.0  # five
FUZZY_MIN_CHARS = 5
# A misspelling this close to two names ("Boguial": Boguia or Boguila?) could be either: keep both as candidates.
FUZZY_TIE = 7.0
# Short capitalised words one typo from a name: fuzzy ratios are too coarse at this length.
TYPO_MIN_CHARS, TYPO_MAX_CHARS = 4, 7
TYPO_SCORE = 75.0
NEAR_PRECISION_M = 7000.0
HOME_PRECISION_M = 15000.0  # no place named: the sender's village is a guess, not a fact
HOME_SAID_PRECISION_M = 3000.0  # "in our village": the sender says it is at home
AXIS_ONLY_PRECISION_M = 20000.0
# Roads wind and distances are guessed: an offset along a bearing is good to about a third of its length.
OFFSET_UNCERTAINTY = 0.35
# "30 km from X" is usually by road or on foot, so the straight line is shorter: 0.7 to 1.0 of what is said.
RING_RADIUS_FACTOR = 0.85
RING_UNCERTAINTY = 0.15
LIST_RADIUS_M = 60000.0  # places listed together closer than this are treated as one area
MILE_M = 1609.344
PLACE_KIND_WORDS = frozenset({"village", "town", "ville", "city", "localite", "locality", "kodro", "mboka", "kijiji"})
UNKNOWN_DISTANCE_M = 30000.0  # "north of X" with no distance: a typical day's walk or short drive
UNKNOWN_DISTANCE_PRECISION_M = 60000.0
CITY_EDGE_M = 7000.0  # a place this far beyond a city's radius is still "in" the city for a reporter


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
    # "13 km from Bria", no direction: the event lies on a circle of this radius around (lat, lon); precision_m
    # then bounds the whole disc, and precision_m - ring_m is the width of the band the circle may be off by.
    ring_m: float | None = None


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
    part_of_next: bool = False  # "Ouango neighbourhood, Bangui": a part of the place named next
    distance_unknown: bool = False  # a direction was given, not a distance
    ambiguous: bool = False  # several candidates and no context to choose between them
    chosen: PlaceRecord | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Cues:
    """The folded relative-phrase vocabulary."""

    near: tuple[tuple[str, ...], ...]
    from_words: frozenset[str]
    filler: frozenset[str]
    units: frozenset[str]
    axis: frozenset[str]
    part_of: frozenset[str]
    articles: frozenset[str]
    miles: frozenset[str]
    between: frozenset[str]
    and_words: frozenset[str]
    directions: dict[tuple[str, ...], float]
    home: tuple[str, ...] = ()

    @property
    def words(self) -> frozenset[str]:
        """Every cue word: none of them is a place name in a message."""
        singles = {w for phrase in self.near for w in phrase} | {w for d in self.directions for w in d}
        return frozenset(singles) | self.from_words | self.filler | self.units | self.axis | self.part_of | self.miles


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
        part_of=frozenset(fold(w) for w in data["part_of"]),
        articles=frozenset(fold(w) for w in data["articles"]),
        miles=frozenset(fold(w) for w in data["miles"]),
        between=frozenset(fold(w) for p in data["between"] for w in p.split()[-1:]),
        and_words=frozenset(fold(w) for w in data["and"]),
        directions={tuple(fold(k).replace("-", " ").split()): float(v) for k, v in data["directions"].items()},
        home=tuple(" ".join(fold(p).split()) for p in data["home"]),
    )


def find_mentions(
    words: Sequence[str], raw_tokens: Sequence[str], gazetteer: Gazetteer, stop_words: frozenset[str]
) -> list[Mention]:
    """Longest non-overlapping place names in the text, exact first, then fuzzy."""
    mentions: list[Mention] = []
    i = 0
    while i < len(words):
        mention = (
            _exact_at(i, words, raw_tokens, gazetteer, stop_words)
            or _fuzzy_at(i, words, gazetteer, stop_words)
            or _typo_at(i, words, raw_tokens, gazetteer, stop_words)
        )
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
        # Spacing varies: "De Gaulle" is the village "Degaulle", "Kaga Bandoro" is written "Kagabandoro".
        places = gazetteer.exact(phrase) or (gazetteer.exact(phrase.replace(" ", "")) if n > 1 else [])
        if places:
            return Mention(i, i + n, list(places), 100.0, phrase)
    return None


def _fuzzy_at(i: int, words: Sequence[str], gazetteer: Gazetteer, stop_words: frozenset[str]) -> Mention | None:
    for n in range(min(3, gazetteer.max_words, len(words) - i), 0, -1):
        span = words[i : i + n]
        if span[0] in stop_words or span[-1] in stop_words or any(any(c.isdigit() for c in w) for w in span):
            continue
        phrase = " ".join(span)
        # A four-letter name is matched loosely only when the text says what it is ("Zmio town").
        named_as_place = i + n < len(words) and words[i + n] in PLACE_KIND_WORDS
        if len(phrase) < FUZZY_MIN_CHARS and not (n == 1 and len(phrase) == 4 and named_as_place):
            continue
        cutoff = (
            FUZZY_CUTOFF_LONG if len(phrase) >= 8 else FUZZY_CUTOFF_MEDIUM if len(phrase) >= 6 else FUZZY_CUTOFF_SHORT
        )
        found = gazetteer.fuzzy(phrase, cutoff, FUZZY_TIE)
        if found is not None:
            names, score = found
            return Mention(i, i + n, [p for name in names for p in gazetteer.exact(name)], score, phrase)
    return None


def _typo_at(
    i: int, words: Sequence[str], raw_tokens: Sequence[str], gazetteer: Gazetteer, stop_words: frozenset[str]
) -> Mention | None:
    """A capitalised word one typo from a short name ("Taey", "Taely" for Taley): too short for fuzzy scores."""
    word, raw = words[i], raw_tokens[i]
    if not (TYPO_MIN_CHARS <= len(word) <= TYPO_MAX_CHARS and raw[:1].isupper() and word.isalpha()):
        return None
    if word in stop_words or i == 0:  # the first word of a message is capitalised whatever it is
        return None
    names = gazetteer.one_edit(word)
    if not names:
        return None
    return Mention(i, i + 1, [p for name in names for p in gazetteer.exact(name)], TYPO_SCORE, word)


def _number(word: str) -> float | None:
    try:
        return float(word.replace(",", "."))
    except ValueError:
        return None


def attach_relations(mentions: list[Mention], words: Sequence[str], cues: Cues) -> None:
    """Mark each mention as near, offset (distance and bearing), an axis or a part of the next place."""
    ends = {m.end for m in mentions}
    for mention in mentions:
        # "Ouango neighbourhood, Bangui" / "quartier Miskine": the part-of word follows or leads the name.
        after = mention.end < len(words) and words[mention.end] in cues.part_of
        before = mention.start > 0 and words[mention.start - 1] in cues.part_of and (mention.start - 1) not in ends
        mention.part_of_next = len(mentions) > 1 and (after or before)
        j = mention.start
        while j > 0 and (words[j - 1] in cues.filler or words[j - 1] in cues.from_words):
            j -= 1
        mention.near = any(
            tuple(words[max(0, end - len(p)) : end]) == p for p in cues.near for end in {j, mention.start}
        )
        k = mention.start
        while k > 0 and words[k - 1] in cues.articles:
            k -= 1
        mention.axis = (
            (k > 0 and words[k - 1] in cues.axis)
            or (mention.end < len(words) and words[mention.end] in cues.axis)
            # "Bambari-Gassimé axis": the other end may be a place we do not know
            or (
                mention.end + 1 < len(words)
                and words[mention.end + 1] in cues.axis
                and words[mention.end] not in cues.words
            )
            or (k > 0 and words[k - 1] in cues.between)
        )
        _attach_offset(mention, words, j, cues)
    # "the Ippy-Bria axis", "axe Bambari-Ippy", "between Sibut and Bangui": both ends are the axis.
    for mention, following in itertools.pairwise(mentions):
        joined = following.start == mention.end or (
            following.start == mention.end + 1 and words[mention.end] in cues.and_words
        )
        if following.axis and joined and mention.offset_m is None:
            mention.axis = True
        if mention.axis and joined and following.offset_m is None:
            following.axis = True


def _attach_offset(mention: Mention, words: Sequence[str], j: int, cues: Cues) -> None:
    # Only "of"/"de" may stand between a direction and its place: "south-west town of Nola" describes Nola.
    k = mention.start
    while k > 0 and words[k - 1] in cues.articles:
        k -= 1
    for size in (2, 1):
        direction = tuple(words[max(0, j - size) : j])
        if len(direction) == size and direction in cues.directions:
            mention.bearing = cues.directions[direction]
            j -= size
            break
    direction_at = j
    while mention.bearing is not None and j > 0 and words[j - 1] in cues.articles:
        j -= 1  # "20 km au nord de", "20 km to the north of"
    unit = words[j - 1] if j >= 1 else ""
    if j >= 2 and (unit in cues.units or unit in cues.miles) and (value := _number(words[j - 2])) is not None:
        mention.offset_m = value * (MILE_M if unit in cues.miles else 1000)
    elif unit.endswith("km") and (value := _number(unit[:-2])) is not None:
        mention.offset_m = value * 1000  # "13km"
    elif mention.bearing is not None and k == direction_at + _direction_size(words, direction_at, cues):
        # "south-east of Sibut": a direction with no distance; somewhere out there, how far unknown.
        mention.offset_m = UNKNOWN_DISTANCE_M
        mention.distance_unknown = True


def _direction_size(words: Sequence[str], j: int, cues: Cues) -> int:
    return next((n for n in (1, 2) if tuple(words[j : j + n]) in cues.directions), 0)


def choose_candidates(mentions: list[Mention], context: LocateContext) -> None:
    """Among places sharing a name, take the one nearest the sender's home or recent incidents, else the biggest."""
    anchors = ([context.home] if context.home else []) + list(context.recent)
    for m in mentions:
        if len(m.candidates) == 1:
            place = m.candidates[0]
            if m.offset_m is not None and m.bearing is not None:
                # "Piangou, 40 km east of Bakala": the point 40 km east of Bakala is the best anchor of all.
                anchors.insert(0, distance.destination(place.lat, place.lon, m.bearing, m.offset_m))
            anchors.append((place.lat, place.lon))
    for mention in mentions:
        if len(mention.candidates) == 1 or not anchors:
            mention.chosen = min(mention.candidates, key=lambda p: p.size_rank)
            mention.ambiguous = len(mention.candidates) > 1
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
        location = _from_mentions(mentions, _point_kilometrique(words))
        if location is not None:
            return location
    if context.home is not None:
        said = says_home(words, load_cues())
        return Location(context.home[0], context.home[1], HOME_SAID_PRECISION_M if said else HOME_PRECISION_M,
                        "reporter_home", place=context.home_place, confidence=0.6 if said else 0.3)  # fmt: skip
    return UNLOCATED


def says_home(words: Sequence[str], cues: Cues) -> bool:
    """Whether the sender says it happens where they live ("dans notre village", "na kodoro ti e")."""
    folded = " " + " ".join(words) + " "
    return any(f" {phrase} " in folded for phrase in cues.home)


def _confidence(mention: Mention) -> float:
    return round(0.9 * mention.score / 100, 3)


def _point_kilometrique(words: Sequence[str]) -> float | None:
    """ "PK 16", "PK16", "35 pk": a road's kilometre mark, in metres from the axis's first town."""
    for i, word in enumerate(words):
        if word.startswith("pk") and word[2:].isdigit():
            return float(word[2:]) * 1000
        if word == "pk":
            for neighbour in (words[i + 1] if i + 1 < len(words) else "", words[i - 1] if i else ""):
                if neighbour.isdigit():
                    return float(neighbour) * 1000
    return None


def _from_mentions(mentions: list[Mention], pk_m: float | None = None) -> Location | None:
    subjects = [m for m in mentions if m.offset_m is None and not m.axis]
    anchored = [m for m in mentions if m.offset_m is not None and m.chosen and m.chosen.kind != "region"]
    if anchored and all(m.chosen and m.chosen.kind == "region" for m in subjects):
        subjects = []  # "80 km south-west of Ouadda, Haute-Kotto": the offset says more than the area
    # A neighbourhood's name may also be a distant town's: trust the place it is said to be part of.
    subjects = [m for m in subjects if not m.part_of_next] or subjects
    # "Houya, 80 km south-west of Ouadda, Haute-Kotto": the area is context, not the place.
    subjects = [m for m in subjects if m.chosen is None or m.chosen.kind != "region"] or subjects
    # "Ndassima, near Bambari": the place near which it is, is context too.
    subjects = [m for m in subjects if not m.near] or subjects
    subjects = _drop_enclosing_city(subjects)
    if subjects:
        return _subject_location(subjects)
    if anchored:
        axis_targets = [m for m in mentions if m.axis and m.offset_m is None]
        return _offset_location(anchored[0], axis_targets[0] if axis_targets else None)
    return _axis_location([m for m in mentions if m.axis], pk_m)


def _drop_enclosing_city(subjects: list[Mention]) -> list[Mention]:
    """ "Bangui PK 13": a city named with a place on its edge means the smaller place."""
    cities = [m for m in subjects if m.chosen and m.chosen.kind in ("city", "capital", "PPLC")]
    smaller = [m for m in subjects if m not in cities and m.chosen]
    if not cities or not smaller:
        return subjects
    keep = [
        c
        for c in cities
        if not any(
            distance.haversine_m(c.chosen.lat, c.chosen.lon, s.chosen.lat, s.chosen.lon)  # type: ignore[union-attr]
            <= c.chosen.precision_m + CITY_EDGE_M  # type: ignore[union-attr]
            for s in smaller
        )
    ]
    return [m for m in subjects if m in keep or m in smaller]


def _subject_location(subjects: list[Mention]) -> Location:
    first = subjects[0]
    place = first.chosen
    assert place is not None
    together = [m for m in subjects if m.chosen and distance.haversine_m(
        place.lat, place.lon, m.chosen.lat, m.chosen.lon) <= LIST_RADIUS_M]  # fmt: skip
    if len(together) > 1:
        # Nearby villages listed together: the first named, with a radius that reaches them all.
        radius = max(
            distance.haversine_m(place.lat, place.lon, m.chosen.lat, m.chosen.lon) + m.chosen.precision_m  # type: ignore[union-attr]
            for m in together
        )
        text = ", ".join(m.text for m in together)
        return Location(place.lat, place.lon, round(radius), "gazetteer", place.name, place.id, text, 0.6)
    precision = max(place.precision_m, NEAR_PRECISION_M) if first.near else place.precision_m
    method = "relative" if first.near else "gazetteer"
    confidence = _confidence(first) * (0.9 if first.near else 1.0)
    if first.ambiguous:
        # Several places share the name and nothing told them apart: say how far apart they are.
        precision = max(
            precision, max(distance.haversine_m(place.lat, place.lon, c.lat, c.lon) for c in first.candidates)
        )
        confidence *= 0.5
    return Location(place.lat, place.lon, precision, method, place.name, place.id, first.text, round(confidence, 3))


def _offset_location(anchor: Mention, axis_target: Mention | None) -> Location:
    place = anchor.chosen
    assert place is not None and anchor.offset_m is not None
    bearing, method = anchor.bearing, "relative"
    if bearing is None and axis_target is not None and axis_target.chosen is not None:
        target = axis_target.chosen
        bearing, method = distance.bearing_deg(place.lat, place.lon, target.lat, target.lon), "axis"
    if bearing is None:
        # "13 km from Bria", no direction: somewhere on a circle around Bria, as wide as a guessed distance is.
        ring, band = RING_RADIUS_FACTOR * anchor.offset_m, RING_UNCERTAINTY * anchor.offset_m + place.precision_m
        return Location(place.lat, place.lon, round(ring + band), "relative", place.name, place.id, anchor.text,
                        round(_confidence(anchor) * 0.6, 3), ring_m=round(ring))  # fmt: skip
    lat, lon = distance.destination(place.lat, place.lon, bearing, anchor.offset_m)
    precision = OFFSET_UNCERTAINTY * anchor.offset_m + place.precision_m
    if anchor.distance_unknown:
        precision = UNKNOWN_DISTANCE_PRECISION_M
    return Location(round(lat, 6), round(lon, 6), round(precision), method, place.name, place.id, anchor.text,
                    round(_confidence(anchor) * 0.7, 3))  # fmt: skip


def _axis_location(axes: list[Mention], pk_m: float | None) -> Location | None:
    places = [m.chosen for m in axes if m.chosen is not None]
    if not places:
        return None
    if pk_m is not None and len(places) >= 2:
        a, b = places[0], places[1]
        lat, lon = distance.destination(a.lat, a.lon, distance.bearing_deg(a.lat, a.lon, b.lat, b.lon), pk_m)
        precision = OFFSET_UNCERTAINTY * pk_m + a.precision_m
        return Location(round(lat, 6), round(lon, 6), round(precision), "axis", f"{a.name}–{b.name}", None,
                        " ".join(m.text for m in axes[:2]), 0.5)  # fmt: skip
    if len(places) >= 2:
        a, b = places[0], places[1]
        lat, lon = (a.lat + b.lat) / 2, (a.lon + b.lon) / 2
        half = distance.haversine_m(a.lat, a.lon, b.lat, b.lon) / 2
        return Location(round(lat, 6), round(lon, 6), round(half + a.precision_m), "axis", f"{a.name}–{b.name}",
                        None, " ".join(m.text for m in axes[:2]), 0.4)  # fmt: skip
    place = places[0]
    return Location(place.lat, place.lon, AXIS_ONLY_PRECISION_M, "axis", place.name, place.id, axes[0].text, 0.4)
