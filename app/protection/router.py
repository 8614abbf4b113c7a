"""The protection matrix through the API: read it as GeoJSON (viewer), replace it (admin)."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Body, HTTPException
from sqlalchemy import select

from app.audit import service as audit
from app.core.deps import SessionDep
from app.operators.dependencies import Admin, Viewer
from app.protection import service
from app.protection.models import ProtectionZone, VulnerableSite
from app.protection.zones import ZoneImportError

router = APIRouter(prefix="/api/v1/zones", tags=["zones"])
FORBIDDEN = {401: {"description": "No, or no live, bearer token"}, 403: {"description": "Role too low"}}


@router.get("", responses=FORBIDDEN)
def zones(_: Viewer, session: SessionDep) -> dict[str, Any]:
    """Zones (with their class) and vulnerable sites, as one GeoJSON FeatureCollection."""
    features = [
        {"type": "Feature", "id": z.key, "geometry": z.geometry,
         "properties": {"name": z.name, "protection": z.protection}}
        for z in session.scalars(select(ProtectionZone).order_by(ProtectionZone.key))
    ] + [
        {"type": "Feature", "id": s.key, "geometry": s.geometry or {"type": "Point", "coordinates": [s.lon, s.lat]},
         "properties": {"name": s.name, "site": s.kind, "radius_m": s.radius_m}}
        for s in session.scalars(select(VulnerableSite).order_by(VulnerableSite.key))
    ]  # fmt: skip
    return {"type": "FeatureCollection", "features": features}


@router.put("", responses={**FORBIDDEN, 422: {"description": "A feature is not usable; the message names it"}})
def replace_zones(
    admin: Admin, session: SessionDep,
    document: dict[str, Any] = Body(description="GeoJSON FeatureCollection: zone polygons with `protection`, sites"),
) -> dict[str, int]:  # fmt: skip
    """Replace the whole protection matrix."""
    try:
        parsed = service.import_protection(session=session, raw=json.dumps(document))
    except ZoneImportError as exc:
        raise HTTPException(422, str(exc)) from None
    audit.record(session=session, actor=admin.username, action="zones.replace", zones=len(parsed.zones),
                 sites=len(parsed.sites))  # fmt: skip
    return {"zones": len(parsed.zones), "sites": len(parsed.sites), "skipped": parsed.skipped}
