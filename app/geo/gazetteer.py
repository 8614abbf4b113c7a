"""An in-memory gazetteer for matching place names in text, loaded once from the database or a CSV."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from rapidfuzz import fuzz, process
from rapidfuzz.distance import OSA
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.geo.distance import haversine_m
from app.geo.models import Place, PlaceName
from app.geo.names import arabic_numerals, base_name, search_name, skeleton

# Radius a bare mention of a place of this kind stands for: an event "at Bangui" can be anywhere in the city.
KIND_PRECISION_M = {
    "city": 8000.0,
    "capital": 8000.0,
    "PPLC": 8000.0,
    "town": 3000.0,
    "PPLA": 3000.0,
    "PPLA2": 3000.0,
    "village": 2000.0,
    "PPL": 2000.0,
    "neighbourhood": 1500.0,
    "airport": 1500.0,
    "camp": 1500.0,
    "CMPRF": 1500.0,
    "mine": 2000.0,
}
REGION_MARGIN_M = 20000.0  # the places we know in an area rarely reach its edge
# Suffixes that make an administrative area's name ("Haute-Kotto province" → "Haute-Kotto").
_AREA_SUFFIXES = (" province", " prefecture", " sub prefecture", " region", " commune")
DEFAULT_PRECISION_M = 3000.0
# Bigger places win ties between places of the same name when nothing else tells them apart.
KIND_RANK = {"city": 0, "capital": 0, "PPLC": 0, "town": 1, "PPLA": 1, "PPLA2": 1, "village": 2, "PPL": 2}


@dataclass(frozen=True)
class PlaceRecord:
    """The parts of a place the locator needs."""

    id: int | None
    name: str
    kind: str
    lat: float
    lon: float
    adm1: str | None = None
    adm2: str | None = None
    population: int | None = None
    radius_m: float | None = None  # known extent (an administrative area), overriding the kind's default

    @property
    def precision_m(self) -> float:
        return self.radius_m or KIND_PRECISION_M.get(self.kind, DEFAULT_PRECISION_M)

    @property
    def size_rank(self) -> tuple[int, int]:
        return KIND_RANK.get(self.kind, 3), -(self.population or 0)


class Gazetteer:
    """Place names (folded) → places, with a fuzzy index of phonetic keys blocked by first letter."""

    def __init__(self, entries: Iterable[tuple[str, PlaceRecord]]) -> None:
        by_name: dict[str, list[PlaceRecord]] = defaultdict(list)
        for name, place in entries:
            key = search_name(name)
            if key and place not in by_name[key]:
                by_name[key].append(place)
        # "Botto" names the group "Botto 1", "Botto 2"… when no place is called just "Botto". Only a
        # place's own name counts: an alias like "Kilometre 5" must not make "kilometre" a place.
        real_names = set(by_name)
        for key, places in list(by_name.items()):
            base = base_name(key)
            own = [p for p in places if search_name(p.name) == key]
            if base and len(base) >= 3 and base not in real_names and own:
                by_name[base].extend(p for p in own if p not in by_name[base])
        self._add_regions(by_name)
        self.by_name = dict(by_name)
        self._skeletons: dict[str, list[str]] = defaultdict(list)  # skeleton → names
        self._by_initial: dict[str, list[str]] = defaultdict(list)  # first letter → skeletons
        for key in self.by_name:
            sk = skeleton(key)
            if sk not in self._skeletons:
                self._by_initial[sk[:1]].append(sk)
            self._skeletons[sk].append(key)
        self.max_words = max((len(k.split()) for k in self.by_name), default=1)
        self._words_by_initial: dict[str, list[str]] = defaultdict(list)  # one-word names by first letter
        for key in self.by_name:
            if " " not in key:
                self._words_by_initial[key[:1]].append(key)

    @staticmethod
    def _add_regions(by_name: dict[str, list[PlaceRecord]]) -> None:
        """Administrative areas named in the places' adm1/adm2 become wide places ("Haute-Kotto", "Ouaka")."""
        members: dict[str, list[PlaceRecord]] = defaultdict(list)
        for places in by_name.values():
            for place in places:
                for area in {place.adm1, place.adm2} - {None}:
                    members[area].append(place)  # type: ignore[index]
        for area, places in members.items():
            key = search_name(area)
            for suffix in _AREA_SUFFIXES:
                key = key.removesuffix(search_name(suffix))
            key = key.strip()
            if len(key) < 3 or key in by_name:
                continue  # "Bambari region" is Bambari: the town wins
            lat = sum(p.lat for p in places) / len(places)
            lon = sum(p.lon for p in places) / len(places)
            radius = max(haversine_m(lat, lon, p.lat, p.lon) for p in places) + REGION_MARGIN_M
            by_name[key] = [PlaceRecord(None, area, "region", round(lat, 5), round(lon, 5), radius_m=round(radius))]

    def __len__(self) -> int:
        return len(self.by_name)

    def exact(self, phrase: str) -> list[PlaceRecord]:
        """Places whose name (or an alternate name) is exactly this folded phrase."""
        return self.by_name.get(phrase) or self.by_name.get(arabic_numerals(phrase), [])

    def fuzzy(self, phrase: str, cutoff: float, tie: float = 0.0) -> tuple[list[str], float] | None:
        """Names sounding alike and starting alike scoring at least `cutoff` (0–100), the best and any within `tie`."""
        sk = skeleton(arabic_numerals(phrase))
        found = process.extract(sk, self._by_initial.get(sk[:1], []), scorer=fuzz.ratio, score_cutoff=cutoff, limit=4)
        if not found:
            return None
        top = found[0][1]
        names = [max(self._skeletons[key], key=lambda n: fuzz.ratio(phrase, n)) for key, score, _ in found
                 if score >= top - tie]  # fmt: skip
        return names, top

    def one_edit(self, word: str) -> list[str]:
        """One-word names one typo away (a letter dropped, added, changed, or two swapped) with the same initial."""
        found = process.extract(word, self._words_by_initial.get(word[:1], []), scorer=OSA.distance, score_cutoff=1,
                                limit=8)  # fmt: skip
        return [name for name, dist, _ in found if dist == 1]

    @classmethod
    def from_session(cls, session: Session) -> Gazetteer:
        """Load every place and alternate name from the database."""
        places = {
            p.id: PlaceRecord(p.id, p.name, p.kind, p.lat, p.lon, p.adm1, p.adm2, p.population)
            for p in session.scalars(select(Place))
        }
        entries = [(p.name, p) for p in places.values()]
        for place_id, name in session.execute(select(PlaceName.place_id, PlaceName.name)):
            if place_id in places:
                entries.append((name, places[place_id]))
        return cls(entries)

    @classmethod
    def from_csv(cls, path: Path) -> Gazetteer:
        """Load a places CSV (name,kind,lat,lon,adm1,adm2[,alt_names]) without a database."""
        from app.geo.importers import RowError, iter_csv_rows, parse_place_row

        entries = []
        for _line, row in iter_csv_rows(path):
            try:
                values = parse_place_row(row, source=path.stem)
            except RowError:
                continue
            place = PlaceRecord(
                None, values["name"], values["kind"], values["lat"], values["lon"], values["adm1"], values["adm2"]
            )
            entries.append((place.name, place))
            for alt in (row.get("alt_names") or "").split(";"):
                if alt.strip():
                    entries.append((alt.strip(), place))
        return cls(entries)
