"""GeoNames import: stream a country or allCountries dump, and alternateNamesV2, into the gazetteer.

Both files are read line by line (a .zip is read in place, never extracted) and written in batches, so memory
stays flat for the 13 million lines of allCountries.txt. A bad line is reported by number and skipped; only a
first line of the wrong shape (not a GeoNames file at all) stops the import.
"""

from __future__ import annotations

import csv
import re
import zipfile
import zlib
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from sqlalchemy.orm import Session

from app.geo.importers import (
    AREA_LENGTH,
    BATCH_SIZE,
    KIND_LENGTH,
    NAME_LENGTH,
    ImportReport,
    PendingPlace,
    RowError,
    add_names,
    alternate_names,
    find_places,
    is_storable_name,
    parse_coordinates,
    write_places,
)
from app.geo.names import search_name

SOURCE = "geonames"
DUMP_COLUMNS = (19,)
ALTERNATE_COLUMNS = (8, 10)  # alternateNames (obsolete) and alternateNamesV2 (adds from, to)
ADMIN1_COLUMNS = (4,)
FEATURE_CLASSES = frozenset("AHLPRSTUV")
DEFAULT_FEATURE_CLASSES = ("P", "S")
# Historical, abandoned and destroyed populated places: not where people are now.
HISTORICAL_CODES = frozenset({"PPLH", "PPLQ", "PPLW"})
# GeoNames' pseudo-languages for postal codes, airport codes, links, Wikidata ids, UN/LOCODEs and EU statistical
# codes: nobody names a village that way in an SMS. Kept: abbr (abbreviations people do write), phon, piny, fr_1793.
CODE_LANGUAGES = frozenset({"post", "iata", "icao", "faac", "tcid", "link", "wkdt", "unlc", "nuts", "lauc"})
LANGUAGE_LENGTH = 8
ERROR_LIMIT = 1000
PROGRESS_STEP = 1 << 20  # report progress per MiB, not per line: 13 million bar updates cost minutes
_NOT_DATA_FILES = frozenset({"readme.txt", "iso-languagecodes.txt"})
_WHOLE_NUMBER = re.compile(r"[0-9]{1,18}")
_INT32_MAX = 2**31 - 1  # place.population is an INTEGER column

Progress = Callable[[int], None]


@dataclass(frozen=True)
class GeoNamesPlace:
    """One row of a GeoNames dump, checked and typed."""

    geonameid: str
    name: str
    search_name: str
    asciiname: str
    alternatenames: tuple[str, ...]
    lat: float
    lon: float
    feature_class: str
    feature_code: str
    country_code: str | None
    admin1: str | None
    admin2: str | None
    population: int | None


@dataclass(frozen=True)
class GeoNamesAlternate:
    """One row of alternateNames(V2), checked and typed."""

    geonameid: str
    language: str | None
    name: str
    kind: str


# -- Reading lines ------------------------------------------------------------------------------------------------


def split_fields(line: str, counts: Collection[int]) -> list[str]:
    """Split one tab-separated line (no quoting: quotes are data) into fields; RowError unless the count fits."""
    if "\x00" in line:
        raise RowError("line contains a NUL character")
    if "\r" in line or "\n" in line:
        raise RowError("line break inside a field")
    try:
        records = list(csv.reader([line], delimiter="\t", quoting=csv.QUOTE_NONE))
    except csv.Error as exc:
        raise RowError(f"unreadable line: {exc}") from None
    fields = records[0] if len(records) == 1 else []
    if len(fields) not in counts:
        expected = " or ".join(str(count) for count in sorted(counts))
        raise RowError(f"expected {expected} tab-separated columns, found {len(fields)}")
    return fields


def _decode(raw: bytes, number: int) -> str:
    """A raw line as text without its line ending (and without a BOM on line 1); RowError if not UTF-8."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise RowError("not valid UTF-8") from None
    text = text.removesuffix("\n").removesuffix("\r")
    return text.removeprefix("\ufeff") if number == 1 else text


def _zip_member(archive: zipfile.ZipFile, path: Path) -> zipfile.ZipInfo:
    """The data file inside a GeoNames zip: the .txt named like the zip, else its only .txt besides the readme."""
    texts = [
        info
        for info in archive.infolist()
        if info.filename.lower().endswith(".txt") and Path(info.filename).name.lower() not in _NOT_DATA_FILES
    ]
    chosen = [info for info in texts if Path(info.filename).stem == path.stem] or texts
    if len(chosen) != 1:
        raise RowError(f"expected one GeoNames .txt file inside the zip, found {len(chosen)}")
    return chosen[0]


@contextmanager
def open_geonames(path: Path) -> Iterator[IO[bytes]]:
    """Open a GeoNames .txt, or the .txt inside a .zip, as a binary stream; RowError for an unreadable zip."""
    if path.suffix.lower() != ".zip":
        with path.open("rb", buffering=PROGRESS_STEP) as handle:
            yield handle
        return
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        raise RowError("not a readable zip file") from None
    with archive:
        try:
            handle = archive.open(_zip_member(archive, path))
        except NotImplementedError as exc:  # a compression method zipfile lacks, e.g. Deflate64
            raise RowError(f"cannot read the zip: {exc}") from None
        with handle:
            yield handle


def source_size(path: Path) -> int:
    """The bytes an import of `path` reads (for a zip, its .txt uncompressed): the progress bar's total."""
    if path.suffix.lower() != ".zip":
        return path.stat().st_size
    try:
        with zipfile.ZipFile(path) as archive:
            return _zip_member(archive, path).file_size
    except zipfile.BadZipFile:
        raise RowError("not a readable zip file") from None


def _read_lines(path: Path, progress: Progress) -> Iterator[tuple[int, bytes]]:
    """Yield (line number, raw line), telling `progress` the bytes read every MiB and at the end."""
    unreported = 0
    number = 0
    with open_geonames(path) as stream:
        try:
            for number, raw in enumerate(stream, start=1):
                unreported += len(raw)
                if unreported >= PROGRESS_STEP:
                    progress(unreported)
                    unreported = 0
                yield number, raw
        except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
            raise RowError(f"line {number + 1}: the zip is damaged ({exc})") from None
    progress(unreported)


def iter_records(
    path: Path, counts: Collection[int], report: ImportReport, progress: Progress
) -> Iterator[tuple[int, list[str]]]:
    """Yield (line number, fields) of each well-formed line; others go to `report`, but a bad line 1 raises."""
    for number, raw in _read_lines(path, progress):
        try:
            fields = split_fields(_decode(raw, number), counts)
        except RowError as exc:
            if number == 1:
                raise RowError(f"line 1: {exc}; is this the right GeoNames file?") from None
            report.reject(number, exc)
            continue
        yield number, fields


def check_format(path: Path, counts: Collection[int]) -> None:
    """Read only the first line of `path` and raise RowError unless it has the expected number of columns."""
    records = iter_records(path, counts, ImportReport(), lambda _n: None)
    try:
        next(records, None)
    finally:
        records.close()


# -- Parsing -------------------------------------------------------------------------------------------------------


def _whole_number(value: str, what: str) -> str:
    """The digits of a non-negative whole number; RowError otherwise."""
    value = value.strip()
    if not _WHOLE_NUMBER.fullmatch(value):
        raise RowError(f"{what} must be a whole number")
    return value


def _population(value: str) -> int | None:
    """GeoNames population, None when empty or beyond the column (only continents are)."""
    if not value.strip():
        return None
    population = int(_whole_number(value, "population"))
    return population if population <= _INT32_MAX else None


def _short(value: str, limit: int, what: str) -> str | None:
    """The stripped value, None when empty; RowError if longer than its column."""
    value = value.strip()
    if len(value) > limit:
        raise RowError(f"{what} is longer than {limit} characters")
    return value or None


def _country_code(value: str) -> str | None:
    """A two-letter country code (NA, Namibia, is a code like any other), None when empty."""
    value = value.strip()
    if value and not (len(value) == 2 and value.isascii() and value.isalpha()):
        raise RowError(f"country code {value!r} is not two letters")
    return value.upper() or None


def parse_dump_fields(fields: list[str]) -> GeoNamesPlace:
    """Check and type the 19 fields of a dump row; RowError names the first problem."""
    geonameid = _whole_number(fields[0], "geonameid")
    name = _short(fields[1], NAME_LENGTH, "name")
    if not name:
        raise RowError("name is empty")
    lat, lon = parse_coordinates(fields[4], fields[5])
    return GeoNamesPlace(
        geonameid=geonameid,
        name=name,
        # Cut, not rejected: only exotic compatibility characters make the search name outgrow the name.
        search_name=search_name(name)[:NAME_LENGTH],
        asciiname=fields[2].strip(),
        alternatenames=tuple(fields[3].split(",")),
        lat=lat,
        lon=lon,
        feature_class=fields[6].strip(),
        feature_code=_short(fields[7], KIND_LENGTH, "feature code") or fields[6].strip(),
        country_code=_country_code(fields[8]),
        admin1=_short(fields[10], AREA_LENGTH, "admin1 code"),
        admin2=_short(fields[11], AREA_LENGTH, "admin2 code"),
        population=_population(fields[14]),
    )


def parse_geonames_line(line: str) -> GeoNamesPlace:
    """Parse one line of a GeoNames dump (without its line ending); RowError if it is not a valid place row."""
    return parse_dump_fields(split_fields(line, DUMP_COLUMNS))


def _alternate_kind(short: str, colloquial: str, historic: str) -> str:
    """place_name.kind from alternateNames flags ("1" or empty); historic wins, then colloquial, then short."""
    if historic == "1":
        return "historic"
    if colloquial == "1":
        return "colloquial"
    return "short" if short == "1" else "alternate"


def _language(value: str) -> str | None:
    """The isolanguage, None when empty; tags longer than the column keep their language ("be-tarask": "be")."""
    value = value.strip()
    if len(value) > LANGUAGE_LENGTH:
        value = value.split("-")[0][:LANGUAGE_LENGTH]
    return value or None


def parse_alternate_fields(fields: list[str]) -> GeoNamesAlternate:
    """Check and type the 8 or 10 fields of an alternateNames row; RowError names the first problem."""
    _whole_number(fields[0], "alternateNameId")
    geonameid = _whole_number(fields[1], "geonameid")
    name = fields[3].strip()
    if not name:
        raise RowError("name is empty")
    _preferred, short, colloquial, historic = fields[4:8]
    return GeoNamesAlternate(geonameid, _language(fields[2]), name, _alternate_kind(short, colloquial, historic))


def parse_alternate_line(line: str) -> GeoNamesAlternate:
    """Parse one line of alternateNames(V2); RowError if it is not a valid row."""
    return parse_alternate_fields(split_fields(line, ALTERNATE_COLUMNS))


# -- Importing -----------------------------------------------------------------------------------------------------


def load_admin1_names(path: Path) -> dict[str, str]:
    """Read admin1CodesASCII.txt (CC.code, name, asciiname, geonameid) into {"CC.code": name}; RowError if malformed."""
    names: dict[str, str] = {}
    for number, raw in _read_lines(path, lambda _n: None):
        try:
            code, name, _ascii, _geonameid = split_fields(_decode(raw, number), ADMIN1_COLUMNS)
            names[code.strip()] = _short(name, AREA_LENGTH, "name") or code.strip()
        except RowError as exc:
            raise RowError(f"line {number}: {exc}") from None
    return names


def _wanted(feature_classes: Collection[str], include_historical: bool) -> Callable[[list[str]], bool]:
    """A test on raw dump fields: is the row's feature class kept, and is it a current place (unless asked)?"""
    classes = frozenset(feature_classes)
    return lambda fields: fields[6] in classes and (include_historical or fields[7] not in HISTORICAL_CODES)


def place_values(place: GeoNamesPlace, admin1_names: dict[str, str] | None) -> dict[str, object]:
    """place column values for a GeoNames row; adm1 is the admin1 name when known, else GeoNames' admin1 code."""
    adm1 = place.admin1
    if adm1 and admin1_names:
        adm1 = admin1_names.get(f"{place.country_code}.{adm1}", adm1)
    return {
        "name": place.name,
        "search_name": place.search_name,
        "kind": place.feature_code,
        "lat": place.lat,
        "lon": place.lon,
        "adm1": adm1,
        "adm2": place.admin2,
        "country_code": place.country_code,
        "population": place.population,
        "source": SOURCE,
        "source_id": place.geonameid,
    }


def import_geonames_dump(
    *,
    session: Session,
    path: Path,
    admin1_names: dict[str, str] | None = None,
    feature_classes: Collection[str] = DEFAULT_FEATURE_CLASSES,
    include_historical: bool = False,
    include_alternatenames: bool = True,
    progress: Progress = lambda _n: None,
    checkpoint: Callable[[], None] = lambda: None,
) -> ImportReport:
    """Import the places of a GeoNames dump (.txt or .zip) with their asciiname and alternatenames as place_name.

    Flushes batches but never commits: `checkpoint` runs after each batch, for a caller that commits as it goes.
    """
    report = ImportReport(error_limit=ERROR_LIMIT)
    wanted = _wanted(feature_classes, include_historical)
    batch: list[PendingPlace] = []
    for number, fields in iter_records(path, DUMP_COLUMNS, report, progress):
        if not wanted(fields):
            report.skipped += 1
            continue
        try:
            place = parse_dump_fields(fields)
        except RowError as exc:
            report.reject(number, exc)
            continue
        names = [place.asciiname, *(place.alternatenames if include_alternatenames else ())]
        batch.append(PendingPlace(place_values(place, admin1_names), alternate_names(names, place.search_name)))
        if len(batch) >= BATCH_SIZE:
            write_places(session, SOURCE, batch, report)
            checkpoint()
            batch = []
    write_places(session, SOURCE, batch, report)
    return report


def _write_alternates(session: Session, batch: list[GeoNamesAlternate], report: ImportReport) -> None:
    """Add a batch of alternate names to their GeoNames places; names of places not imported are only counted."""
    places = find_places(session, SOURCE, (alt.geonameid for alt in batch))
    rows = []
    for alt in batch:
        if alt.geonameid not in places:
            report.unknown_places += 1
            continue
        place_id, own_search_name = places[alt.geonameid]
        for name in alternate_names([alt.name], own_search_name, language=alt.language, kind=alt.kind):
            rows.append({"place_id": place_id, **name._asdict()})
    report.names_added += add_names(session, rows)


def import_alternate_names(
    *,
    session: Session,
    path: Path,
    progress: Progress = lambda _n: None,
    checkpoint: Callable[[], None] = lambda: None,
) -> ImportReport:
    """Add alternateNames(V2) rows (.txt or .zip) as place_name for places already imported from GeoNames.

    Codes (CODE_LANGUAGES, or names without a letter) are skipped. Flushes but never commits; see import_geonames_dump.
    """
    report = ImportReport(error_limit=ERROR_LIMIT)
    batch: list[GeoNamesAlternate] = []
    for number, fields in iter_records(path, ALTERNATE_COLUMNS, report, progress):
        try:
            alt = parse_alternate_fields(fields)
        except RowError as exc:
            report.reject(number, exc)
            continue
        if alt.language in CODE_LANGUAGES or not is_storable_name(alt.name):
            report.skipped += 1
            continue
        batch.append(alt)
        if len(batch) >= BATCH_SIZE:
            _write_alternates(session, batch, report)
            checkpoint()
            batch = []
    _write_alternates(session, batch, report)
    return report
