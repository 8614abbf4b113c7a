"""Incidents as UTF-8 CSV with an HXL hashtag row under the header, in ACLED-compatible tags (pure)."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable

from app.exports.facts import IncidentRecord, acled_types, iso_utc

MEDIA_TYPE = "text/csv; charset=utf-8"
# Spreadsheets run a cell that starts with one of these as a formula (OWASP "CSV injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

Value = str | int | float | None
# (header, HXL hashtag, value). Tags follow OCHA's ACLED republication where it has one (#event+code,
# #event+type, #loc+name, #geo+lat/lon, #affected+killed); attributes beyond the core dictionary are free-form,
# and priority has no core hashtag, so it takes the extension prefix #x_.
COLUMNS: tuple[tuple[str, str, Callable[[IncidentRecord], Value]], ...] = (
    ("ref", "#event+code", lambda r: r.ref),
    ("first_report_at", "#date+reported", lambda r: iso_utc(r.first_report_at)),
    ("last_report_at", "#date+updated", lambda r: iso_utc(r.last_report_at)),
    ("status", "#status", lambda r: r.status),
    ("priority", "#x_priority", lambda r: r.priority),
    ("acled_event_type", "#event+type", lambda r: acled_types(r.category)[0]),
    ("acled_sub_event_type", "#event+type+sub", lambda r: acled_types(r.category)[1]),
    ("category", "#event+type+code", lambda r: r.category),
    ("severity", "#severity", lambda r: r.severity),
    ("verification", "#status+verification", lambda r: r.verification),
    ("place", "#loc+name", lambda r: r.place),
    ("lat", "#geo+lat", lambda r: r.lat),
    ("lon", "#geo+lon", lambda r: r.lon),
    ("precision_m", "#geo+precision", lambda r: r.precision_m),
    ("ring_m", "#geo+ring", lambda r: r.ring_m),
    ("dead_min", "#affected+killed+min", lambda r: r.dead_min),
    ("dead_max", "#affected+killed+max", lambda r: r.dead_max),
    ("report_count", "#meta+count", lambda r: r.report_count),
    ("reporter_count", "#meta+count+reporters", lambda r: r.reporter_count),
    # No core hashtag says "drill" either.
    ("exercise", "#x_exercise", lambda r: "true" if r.exercise else "false"),
)


def incidents_csv(records: Iterable[IncidentRecord]) -> str:
    """The header row, the hashtag row, then one row per incident."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")  # RFC 4180 line ends
    writer.writerow([header for header, _, _ in COLUMNS])
    writer.writerow([tag for _, tag, _ in COLUMNS])
    for record in records:
        writer.writerow([cell(value(record)) for _, _, value in COLUMNS])
    return out.getvalue()


def cell(value: Value) -> str:
    """A value as CSV text; text that a spreadsheet would run as a formula gets a leading apostrophe."""
    if value is None:
        return ""
    if isinstance(value, str):
        # Only text is guarded: a negative longitude is a number, and must stay one.
        return "'" + value if value.startswith(FORMULA_STARTS) else value
    return str(value)
