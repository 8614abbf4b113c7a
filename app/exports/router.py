"""Exports the rest of the humanitarian world can read: GeoJSON, HXL-tagged CSV, CAP 1.2 and a CAP Atom feed."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Path, Query, Request, Response

from app.core.clock import utcnow
from app.core.deps import SessionDep, SettingsDep
from app.exports import atom, cap, geojson, hxlcsv, service
from app.exports.facts import IncidentRecord
from app.incidents import service as incidents
from app.operators.dependencies import Viewer

router = APIRouter(prefix="/api/v1/exports", tags=["exports"])
FORBIDDEN = {401: {"description": "No, or no live, bearer token"}, 403: {"description": "Role too low"}}
# Restricted data: no shared cache (a proxy, a CDN) may keep a copy.
NO_STORE = {"Cache-Control": "no-store"}
Status = Literal["open", "escalated", "acknowledged", "responding", "resolved", "false_alarm", "merged"]
StatusQuery = Annotated[list[Status] | None, Query(description="any of these statuses; default: every open one")]
SinceQuery = Annotated[datetime | None, Query(description="last report at or after this time (UTC without offset)")]
LanguageQuery = Annotated[Literal["fr", "en"] | None, Query(description="default: the deployment's, else fr")]
ExerciseQuery = Annotated[bool | None, Query(description="true: only drills; false: only real incidents; default both")]


def _content(media_type: str, what: str) -> dict:
    return {**FORBIDDEN, 200: {"description": what, "content": {media_type: {}}}}


GEOJSON = _content(geojson.MEDIA_TYPE, "RFC 7946 FeatureCollection")
CSV = _content("text/csv", "CSV with an HXL hashtag row under the header")
CAP = {**_content(cap.MEDIA_TYPE, "CAP 1.2 alert"), 404: {"description": "No such incident"}}
ATOM = _content(atom.MEDIA_TYPE, "Atom feed of CAP alerts")


@router.get("/incidents.geojson", response_class=Response, responses=GEOJSON)
def incidents_geojson(
    _: Viewer, session: SessionDep, status: StatusQuery = None, since: SinceQuery = None, exercise: ExerciseQuery = None
) -> Response:
    """Incidents as GeoJSON: a Point [lon, lat] each (null when unlocated), public facts only, drills flagged."""
    collection = geojson.feature_collection(_records(session, status, since, exercise))
    body = json.dumps(collection, ensure_ascii=False, separators=(",", ":"))
    return Response(body, media_type=geojson.MEDIA_TYPE, headers=NO_STORE)


@router.get("/incidents.csv", response_class=Response, responses=CSV)
def incidents_csv(
    _: Viewer, session: SessionDep, status: StatusQuery = None, since: SinceQuery = None, exercise: ExerciseQuery = None
) -> Response:
    """Incidents as HXL-tagged CSV (UTF-8), ACLED event types included, public facts only, drills flagged."""
    body = hxlcsv.incidents_csv(_records(session, status, since, exercise))
    headers = {**NO_STORE, "Content-Disposition": 'attachment; filename="kengele-incidents.csv"'}
    return Response(body, media_type=hxlcsv.MEDIA_TYPE, headers=headers)


@router.get("/cap/{ref}.xml", response_class=Response, responses=CAP)
def cap_alert(
    ref: Annotated[str, Path(max_length=20)], _: Viewer, session: SessionDep, settings: SettingsDep,
    language: LanguageQuery = None,
) -> Response:  # fmt: skip
    """The incident's current CAP 1.2 message (Alert, Update or Cancel), scope Restricted; Exercise for a drill."""
    found = service.find(session=session, ref=ref)
    if not found:
        raise HTTPException(404, "no such incident")  # not echoed: it may be a number typed in the wrong box
    [item] = _alerts(session, found, language or settings.default_language)
    return Response(item.to_xml(), media_type=cap.MEDIA_TYPE, headers=NO_STORE)


@router.get("/cap.atom", response_class=Response, responses=ATOM)
def cap_feed(
    request: Request, _: Viewer, session: SessionDep, settings: SettingsDep, language: LanguageQuery = None,
    exercise: ExerciseQuery = None,
) -> Response:  # fmt: skip
    """An Atom feed of the open incidents' CAP alerts, each embedded in its entry."""
    language = language or settings.default_language
    found = service.find(session=session, statuses=incidents.ACTIVE, exercise=exercise)
    alerts = _alerts(session, found, language)
    base = (settings.public_base_url or str(request.base_url)).rstrip("/") + router.prefix
    body = atom.cap_feed(
        alerts, title=cap.feed_title(language), feed_url=f"{base}/cap.atom", alert_url=lambda r: f"{base}/cap/{r}.xml",
        now=utcnow(),
    )  # fmt: skip
    return Response(body, media_type=atom.MEDIA_TYPE, headers=NO_STORE)


def _records(
    session, status: list[Status] | None, since: datetime | None, exercise: bool | None
) -> list[IncidentRecord]:
    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    found = service.find(session=session, statuses=status or incidents.ACTIVE, since=since, exercise=exercise)
    return service.records(session=session, incidents=found)


def _alerts(session, found: list, language: str) -> list[cap.CapAlert]:
    changes = service.changes(session=session, incidents=found)
    records = service.records(session=session, incidents=found)
    return [cap.alert(record, changes.get(incident.id, ()), exercise=record.exercise, language=language)
            for incident, record in zip(found, records, strict=True)]  # fmt: skip
