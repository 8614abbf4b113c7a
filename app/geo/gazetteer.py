"""An in-memory gazetteer for matching place names in text, loaded once from the database or a CSV."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from rapidfuzz import fuzz, process
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.geo.models import Place, PlaceName
from app.geo.names import search_name

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

    @property
    def precision_m(self) -> float:
        return KIND_PRECISION_M.get(self.kind, DEFAULT_PRECISION_M)

    @property
    def size_rank(self) -> tuple[int, int]:
        return KIND_RANK.get(self.kind, 3), -(self.population or 0)


class Gazetteer:
    """Place names (folded) → places, with a fuzzy index blocked by first letter."""

    def __init__(self, entries: Iterable[tuple[str, PlaceRecord]]) -> None:
        by_name: dict[str, list[PlaceRecord]] = defaultdict(list)
        for name, place in entries:
            key = search_name(name)
            if key and place not in by_name[key]:
                by_name[key].append(place)
        self.by_name = dict(by_name)
        self._by_initial: dict[str, list[str]] = defaultdict(list)
        for key in self.by_name:
            self._by_initial[key[0]].append(key)
        self.max_words = max((len(k.split()) for k in self.by_name), default=1)

    def __len__(self) -> int:
        return len(self.by_name)

    def exact(self, phrase: str) -> list[PlaceRecord]:
        """Places whose name (or an alternate name) is exactly this folded phrase."""
        return self.by_name.get(phrase, [])

    def fuzzy(self, phrase: str, cutoff: float) -> tuple[str, float] | None:
        """The closest name starting with the same letter, if it scores at least `cutoff` (0–100)."""
        candidates = self._by_initial.get(phrase[:1], [])
        best = process.extractOne(phrase, candidates, scorer=fuzz.ratio, score_cutoff=cutoff)
        return (best[0], best[1]) if best else None

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
