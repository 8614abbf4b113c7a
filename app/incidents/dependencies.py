"""Request dependencies of the incidents API: the incident named in the path, and what its errors mean in HTTP."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Path
from sqlalchemy import select

from app.core.deps import SessionDep
from app.incidents import service
from app.incidents.models import Incident

FORBIDDEN = {401: {"description": "No, or no live, bearer token"}, 403: {"description": "Role too low"}}
MISSING = {**FORBIDDEN, 404: {"description": "No such incident"}, 409: {"description": "Not possible in its state"}}
REFUSED = {**MISSING, 422: {"description": "The request makes no sense (the reason says why)"}}


def incident_by_ref(ref: Annotated[str, Path(max_length=20)], session: SessionDep) -> Incident:
    """The incident the path names; 404 otherwise."""
    incident = session.scalar(select(Incident).where(Incident.ref == ref.upper()))
    if incident is None:
        raise HTTPException(404, "no such incident")  # not echoed: it may be a number typed in the wrong box
    return incident


def http_error(exc: service.IncidentError) -> HTTPException:
    """The HTTP answer to a refused action: 404 unknown, 422 senseless, 409 not now; the reason as detail."""
    code = 404 if isinstance(exc, service.NotFound) else 422 if isinstance(exc, service.Invalid) else 409
    return HTTPException(code, str(exc))


# Declare it after the caller's role: the role is checked first, so a viewer learns nothing of which refs exist.
IncidentByRef = Annotated[Incident, Depends(incident_by_ref)]
