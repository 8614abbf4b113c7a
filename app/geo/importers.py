"""Gazetteer import from CSV: stream rows, report bad lines by number, never abort on one."""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from app.core.db import insert_ignore
from app.geo.models import Place
from app.geo.names import search_name

REQUIRED_COLUMNS = ("name", "lat", "lon")


class RowError(ValueError):
    """A row that cannot become a place; the message says why."""


@dataclass
class ImportReport:
    """What an import did, with one line per rejected row."""

    imported: int = 0
    already_present: int = 0
    errors: list[str] = field(default_factory=list)


def parse_place_row(row: dict[str, Any], *, source: str) -> dict[str, Any]:
    """Turn one CSV row (name, kind, lat, lon, adm1, adm2[, country_code]) into place values."""
    name = (row.get("name") or "").strip()
    if not name:
        raise RowError("name is empty")
    try:
        lat, lon = float(row.get("lat") or ""), float(row.get("lon") or "")
    except ValueError:
        raise RowError("lat and lon must be decimal degrees") from None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise RowError("lat/lon out of range")
    adm1 = (row.get("adm1") or "").strip() or None
    adm2 = (row.get("adm2") or "").strip() or None
    kind = (row.get("kind") or "").strip() or "place"
    return {
        "name": name,
        "search_name": search_name(name),
        "kind": kind,
        "lat": lat,
        "lon": lon,
        "adm1": adm1,
        "adm2": adm2,
        "country_code": ((row.get("country_code") or "").strip().upper() or None),
        "source": source,
        # Name, kind and areas: a town and its airport may share a name and a district.
        "source_id": f"{name}|{kind}|{adm1 or ''}|{adm2 or ''}",
    }


def iter_csv_rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield (line number, row) for each CSV record; checks the header first."""
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or [])]
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
    report = ImportReport()
    source = path.stem[:40]
    for line, row in iter_csv_rows(path):
        progress()
        try:
            if None in row:
                raise RowError("more fields than the header")
            values = parse_place_row(row, source=source)
        except RowError as exc:
            report.errors.append(f"line {line}: {exc}")
            continue
        values["country_code"] = values["country_code"] or country_code
        if insert_ignore(session, Place, values, conflict=["source", "source_id"]):
            report.imported += 1
        else:
            report.already_present += 1
    return report
