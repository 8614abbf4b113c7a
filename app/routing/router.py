"""Roads through the API: the network as GeoJSON, closures (operator), a replaced network (admin), rankings."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Body, HTTPException, Query, Response
from pydantic import BaseModel, Field
from sqlalchemy import select

from app.audit import service as audit
from app.core.clock import utcnow
from app.core.deps import SessionDep
from app.escalation.service import RESPONDERS
from app.operators.dependencies import Admin, OperatorOnDuty, Viewer
from app.routing import service
from app.routing.models import RoadClosure, RoadSegmentRow
from app.routing.roads import RoadImportError

router = APIRouter(prefix="/api/v1", tags=["roads"])
FORBIDDEN = {401: {"description": "No, or no live, bearer token"}, 403: {"description": "Role too low"}}


class ClosureIn(BaseModel):
    """Close a segment, with the reason operators will read in every ranking that avoids it."""

    segment_key: str = Field(min_length=1, max_length=100)
    reason: str = Field(min_length=3, max_length=200)
    hours: float | None = Field(default=None, gt=0, le=24 * 365, description="reopen by itself after this long")


class ClosureOut(BaseModel):
    """A closure in force."""

    segment_key: str
    reason: str
    closed_at: datetime
    closed_by: str
    expires_at: datetime | None


class RankingOut(BaseModel):
    """One unit's estimate to a point, and why."""

    unit_id: int
    name: str
    eta_s: float | None
    distance_m: float | None
    method: str
    explanation: str
    route: list[str]
    closed_avoided: list[str]


@router.get("/roads", responses=FORBIDDEN)
def roads(_: Viewer, session: SessionDep) -> dict[str, Any]:
    """The road network as GeoJSON, each segment marked closed or open."""
    closed = service.closed_keys(session=session)
    features = [
        {"type": "Feature", "id": f"{r.key}#{r.part}", "geometry": {"type": "LineString",
         "coordinates": [[lon, lat] for lat, lon in r.coords]},
         "properties": {"key": r.key, "name": r.name, "highway": r.road_class, "speed_kmh": r.speed_kmh,
                        "closed": r.key in closed}}
        for r in session.scalars(select(RoadSegmentRow).order_by(RoadSegmentRow.id))
    ]  # fmt: skip
    return {"type": "FeatureCollection", "features": features}


@router.put("/roads", responses={**FORBIDDEN, 422: {"description": "A feature is not usable; the message names it"}})
def replace_roads(
    admin: Admin, session: SessionDep, document: dict[str, Any] = Body(description="GeoJSON LineStrings")
) -> dict[str, int]:
    """Replace the road network (large networks: `kengele import-roads`)."""
    try:
        parsed = service.import_roads(session=session, raw=json.dumps(document))
    except RoadImportError as exc:
        raise HTTPException(422, str(exc)) from None
    audit.record(session=session, actor=admin.username, action="roads.replace", segments=len(parsed.segments))
    return {"segments": len({s.key for s in parsed.segments}), "skipped": parsed.skipped}


@router.get("/roads/closures", responses=FORBIDDEN)
def closures(_: Viewer, session: SessionDep) -> list[ClosureOut]:
    """Closures in force."""
    now = utcnow()
    rows = session.scalars(select(RoadClosure).where(RoadClosure.reopened_at.is_(None)).order_by(RoadClosure.id))
    return [ClosureOut.model_validate(r, from_attributes=True) for r in rows if not r.expires_at or r.expires_at > now]


@router.post("/roads/closures", status_code=201, responses={**FORBIDDEN, 404: {"description": "No such segment"}})
def close(body: ClosureIn, operator: OperatorOnDuty, session: SessionDep) -> ClosureOut:
    """Close a segment: rankings route around it at once."""
    expires = utcnow() + timedelta(hours=body.hours) if body.hours else None
    try:
        closure = service.close_segment(session=session, key=body.segment_key, reason=body.reason,
                                        actor=operator.username, expires_at=expires)  # fmt: skip
    except service.RoutingError as exc:
        raise HTTPException(404, str(exc)) from None
    audit.record(session=session, actor=operator.username, action="road.close", target=f"road:{body.segment_key}",
                 reason=body.reason)  # fmt: skip
    return ClosureOut.model_validate(closure, from_attributes=True)


@router.delete("/roads/closures/{segment_key}", status_code=204, response_class=Response,
               responses={**FORBIDDEN, 404: {"description": "The segment was not closed"}})  # fmt: skip
def reopen(segment_key: str, operator: OperatorOnDuty, session: SessionDep) -> Response:
    """Reopen a closed segment."""
    if not service.reopen_segment(session=session, key=segment_key, actor=operator.username):
        raise HTTPException(404, f"{segment_key!r} was not closed")
    audit.record(session=session, actor=operator.username, action="road.reopen", target=f"road:{segment_key}")
    return Response(status_code=204)


@router.get("/routing/rank", responses=FORBIDDEN)
def rank(
    _: Viewer, session: SessionDep, lat: Annotated[float, Query(ge=-90, le=90)],
    lon: Annotated[float, Query(ge=-180, le=180)], limit: Annotated[int, Query(ge=1, le=100)] = 10,
) -> list[RankingOut]:  # fmt: skip
    """Responding units ranked by ETA to a point, each with its explanation (what escalation would use)."""
    ranked = service.rank_for(session=session, lat=lat, lon=lon, kinds=list(RESPONDERS))[:limit]
    return [RankingOut(unit_id=int(r.unit_id), name=r.name, eta_s=r.eta_s, distance_m=r.distance_m, method=r.method,
                       explanation=r.explanation, route=list(r.route), closed_avoided=list(r.closed_avoided))
            for r in ranked]  # fmt: skip
