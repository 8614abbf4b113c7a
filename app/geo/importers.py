"""Gazetteer import from CSV: stream rows, report bad lines by number, never abort on one.

Also the batch writer the GeoNames importer shares: places by insert-ignore, then the other names they go by.
"""

from __future__ import annotations

import csv
import hashlib
import math
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from app.core.db import insert_ignore_many
from app.geo.models import Place, PlaceName
from app.geo.names import search_name

REQUIRED_COLUMNS = ("name", "lat", "lon")
BATCH_SIZE = 1000
# Column widths of place/place_name: PostgreSQL rejects longer values and would abort the whole import.
NAME_LENGTH = 200
KIND_LENGTH = 40
AREA_LENGTH = 120
SOURCE_ID_LENGTH = 200
_LETTER = re.compile(r"[^\W\d_]")  # a word character that is neither a digit nor an underscore


class RowError(ValueError):
    """A row that cannot become a place; the message says why."""


@dataclass
class ImportReport:
    """What an import did, with one message per rejected line (only the first `error_limit` when set)."""

    imported: int = 0
    already_present: int = 0
    names_added: int = 0
    # Rows left out on purpose: other feature classes, historical places, codes rather than names.
    skipped: int = 0
    # Alternate names whose place is not in the gazetteer.
    unknown_places: int = 0
    bad_lines: int = 0
    errors: list[str] = field(default_factory=list)
    error_limit: int | None = None

    def reject(self, line: int, error: Exception) -> None:
        """Count a bad line; keep its message while under the limit (a wrong 13-million-line file stays small)."""
        self.bad_lines += 1
        if self.error_limit is None or len(self.errors) < self.error_limit:
            self.errors.append(f"line {line}: {error}")


class AltName(NamedTuple):
    """A name a place goes by besides its own, ready for place_name."""

    name: str
    search_name: str
    language: str | None = None
    kind: str = "alternate"


@dataclass
class PendingPlace:
    """Place column values waiting for their batch insert, with the other names of the place."""

    values: dict[str, Any]
    names: list[AltName]


def parse_coordinates(lat_text: str, lon_text: str) -> tuple[float, float]:
    """Parse decimal-degree latitude and longitude; RowError if unparsable or off the globe."""
    try:
        lat, lon = float(lat_text), float(lon_text)
    except ValueError:
        raise RowError("lat and lon must be decimal degrees") from None
    if not (math.isfinite(lat) and math.isfinite(lon)):
        raise RowError("lat and lon must be decimal degrees")
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise RowError("lat/lon out of range")
    return lat, lon


def is_storable_name(name: str) -> bool:
    """True for a name worth a place_name row: fits the column and has a letter (not a code, number or URL)."""
    return len(name) <= NAME_LENGTH and "://" not in name and _LETTER.search(name) is not None


def alternate_names(
    names: Iterable[str], own_search_name: str, *, language: str | None = None, kind: str = "alternate"
) -> list[AltName]:
    """The storable names, one per search name, leaving out the place's own (search_name already covers it)."""
    seen = {own_search_name}
    result = []
    for raw in names:
        name = raw.strip()
        if not is_storable_name(name):
            continue
        key = search_name(name)
        if key not in seen and len(key) <= NAME_LENGTH:
            seen.add(key)
            result.append(AltName(name, key, language, kind))
    return result


def find_places(session: Session, source: str, source_ids: Iterable[str]) -> dict[str, tuple[int, str]]:
    """Map the given source ids already stored for `source` to (place id, place search name)."""
    ids = list(set(source_ids))
    if not ids:
        return {}
    # Ids as literals, not 1000 bound parameters: psycopg prepares a statement it sees five times, and PostgreSQL's
    # generic plan for such an IN list scans the whole table, so each batch got slower (8 minutes for 200,000 rows).
    wanted = bindparam("source_ids", ids, expanding=True, literal_execute=True)
    rows = session.execute(
        select(Place.source_id, Place.id, Place.search_name).where(Place.source == source, Place.source_id.in_(wanted))
    )
    return {source_id: (place_id, key) for source_id, place_id, key in rows}


def add_names(session: Session, rows: list[dict[str, Any]]) -> int:
    """Insert place_name rows, ignoring ones a place already has; return how many were added."""
    unique: dict[tuple[int, str], dict[str, Any]] = {}
    for row in rows:  # the first of a batch wins, as it would had they come in separate batches
        unique.setdefault((row["place_id"], row["search_name"]), row)
    return len(insert_ignore_many(session, PlaceName, list(unique.values()), conflict=["place_id", "search_name"]))


def write_places(session: Session, source: str, batch: list[PendingPlace], report: ImportReport) -> None:
    """Insert a batch of places (present ones are left as they are) and any of their names not stored yet."""
    if not batch:
        return
    created = insert_ignore_many(session, Place, [p.values for p in batch], conflict=["source", "source_id"])
    report.imported += len(created)
    report.already_present += len(batch) - len(created)
    named = [p for p in batch if p.names]
    # Names go to present places too: a newer file may know more names for a place we already have.
    ids = find_places(session, source, (p.values["source_id"] for p in named))
    rows = [
        {"place_id": ids[p.values["source_id"]][0], **alt._asdict()}
        for p in named
        if p.values["source_id"] in ids
        for alt in p.names
    ]
    report.names_added += add_names(session, rows)


def _text(row: dict[str, Any], column: str, limit: int) -> str | None:
    """The stripped value of a column, None when empty; RowError if it cannot be stored."""
    value = (row.get(column) or "").strip()
    if "\x00" in value:
        raise RowError(f"{column} contains a NUL character")
    if len(value) > limit:
        raise RowError(f"{column} is longer than {limit} characters")
    return value or None


def _country_code(value: str | None) -> str | None:
    """An upper-case two-letter country code, or None; RowError for anything else."""
    if not value:
        return None
    if not (len(value) == 2 and value.isascii() and value.isalpha()):
        raise RowError(f"country code {value!r} is not two letters (ISO 3166)")
    return value.upper()


def _csv_source_id(name: str, kind: str, adm1: str | None, adm2: str | None) -> str:
    # Name, kind and areas: a town and its airport may share a name and a district.
    key = f"{name}|{kind}|{adm1 or ''}|{adm2 or ''}"
    # Keys that overflow the column are hashed so they stay unique and stable across re-imports.
    return key if len(key) <= SOURCE_ID_LENGTH else "sha256:" + hashlib.sha256(key.encode()).hexdigest()


def parse_place_row(row: dict[str, Any], *, source: str) -> dict[str, Any]:
    """Turn one CSV row (name, kind, lat, lon, adm1, adm2[, country_code]) into place values."""
    name = _text(row, "name", NAME_LENGTH)
    if not name:
        raise RowError("name is empty")
    lat, lon = parse_coordinates(row.get("lat") or "", row.get("lon") or "")
    adm1 = _text(row, "adm1", AREA_LENGTH)
    adm2 = _text(row, "adm2", AREA_LENGTH)
    kind = _text(row, "kind", KIND_LENGTH) or "place"
    return {
        "name": name,
        # Cut, not rejected: only exotic compatibility characters make the search name outgrow the name.
        "search_name": search_name(name)[:NAME_LENGTH],
        "kind": kind,
        "lat": lat,
        "lon": lon,
        "adm1": adm1,
        "adm2": adm2,
        "country_code": _country_code(_text(row, "country_code", AREA_LENGTH)),
        "source": source,
        "source_id": _csv_source_id(name, kind, adm1, adm2),
    }


def parse_alt_names(row: dict[str, Any], own_search_name: str) -> list[AltName]:
    """The row's semicolon-separated alt_names as place_name values (kind alternate)."""
    raw = (row.get("alt_names") or "").split(";")
    if any("\x00" in name for name in raw):
        raise RowError("alt_names contains a NUL character")
    if any(len(name.strip()) > NAME_LENGTH for name in raw):
        raise RowError(f"an alternate name is longer than {NAME_LENGTH} characters")
    return alternate_names(raw, own_search_name)


def iter_csv_rows(path: Path, required: tuple[str, ...] = REQUIRED_COLUMNS) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield (line number, row) for each CSV record; checks the header has the required columns first."""
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in required if c not in (reader.fieldnames or [])]
        if missing:
            raise RowError(f"line 1: missing column(s) {', '.join(missing)}")
        for row in reader:
            yield reader.line_num, row


def import_places_csv(
    *,
    session: Session,
    path: Path,
    country_code: str | None = None,
    progress: Callable[[], None] = lambda: None,
) -> ImportReport:
    """Import a places CSV; rows already present (same source and name/admin areas) are skipped."""
    default_country = _country_code((country_code or "").strip())
    report = ImportReport()
    source = path.stem[:40]
    batch: list[PendingPlace] = []
    for line, row in iter_csv_rows(path):
        progress()
        try:
            if None in row:
                raise RowError("more fields than the header")
            values = parse_place_row(row, source=source)
            names = parse_alt_names(row, values["search_name"])
        except RowError as exc:
            report.reject(line, exc)
            continue
        values["country_code"] = values["country_code"] or default_country
        batch.append(PendingPlace(values, names))
        if len(batch) >= BATCH_SIZE:
            write_places(session, source, batch, report)
            batch = []
    write_places(session, source, batch, report)
    return report
