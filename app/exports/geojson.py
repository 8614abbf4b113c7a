"""Incidents as an RFC 7946 GeoJSON FeatureCollection (pure)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from app.exports.facts import IncidentRecord, acled_types, cap_certainty, iso_utc

MEDIA_TYPE = "application/geo+json"
# RFC 7946 §11.2: six decimals are about 10 cm, far finer than any report; more only adds bytes.
DECIMALS = 6


def feature_collection(records: Iterable[IncidentRecord]) -> dict[str, Any]:
    """A FeatureCollection with one Feature per incident, in WGS 84 [lon, lat] (no `crs`: RFC 7946 dropped it)."""
    return {"type": "FeatureCollection", "features": [feature(r) for r in records]}


def feature(record: IncidentRecord) -> dict[str, Any]:
    """One incident as a Feature whose id is its reference; an unlocated incident has a null geometry."""
    return {"type": "Feature", "id": record.ref, "geometry": _point(record), "properties": properties(record)}


def properties(record: IncidentRecord) -> dict[str, Any]:
    """The incident's public facts, with the ACLED types and CAP certainty other systems filter on."""
    event_type, sub_event_type = acled_types(record.category)
    return {
        "ref": record.ref,
        "status": record.status,
        "priority": record.priority,
        "category": record.category,
        "acled_event_type": event_type,
        "acled_sub_event_type": sub_event_type,
        "severity": record.severity,
        "verification": record.verification,
        "certainty": cap_certainty(record.verification, record.reporter_count),
        "place": record.place,
        "precision_m": record.precision_m,
        "ring_m": record.ring_m,
        "first_report_at": iso_utc(record.first_report_at),
        "last_report_at": iso_utc(record.last_report_at),
        "report_count": record.report_count,
        "reporter_count": record.reporter_count,
        "dead_min": record.dead_min,
        "dead_max": record.dead_max,
        "exercise": record.exercise,
    }


def _point(record: IncidentRecord) -> dict[str, Any] | None:
    if record.lat is None or record.lon is None:
        return None
    return {"type": "Point", "coordinates": [round(record.lon, DECIMALS), round(record.lat, DECIMALS)]}
