"""Reporters through the API: the list, masked, for viewers; the number itself only for call-back operators."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query
from sqlalchemy import select

from app.audit import service as audit
from app.core.deps import RowId, SessionDep, VaultDep
from app.incidents.dependencies import FORBIDDEN
from app.incidents.schemas import ReporterOut, ReporterPage
from app.operators.dependencies import CallBacker, Viewer
from app.reporters.models import Reporter
from app.verification import trust as trust_rules

# Here rather than in app/reporters/ only because app.main mounts the incidents router: move it when it can.
router = APIRouter(prefix="/api/v1/reporters", tags=["reporters"])
NO_NUMBER = {**FORBIDDEN, 404: {"description": "No such reporter, or none with a number"}}


@router.get("", responses=FORBIDDEN)
def list_reporters(
    _: Viewer, session: SessionDep,
    kind: Annotated[Literal["villager", "cla", "partner_member"] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50, offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
) -> ReporterPage:  # fmt: skip
    """Reporters, most recently seen first, numbers masked, with their record and trust."""
    query = select(Reporter).order_by(Reporter.last_seen_at.desc(), Reporter.id.desc())
    if kind:
        query = query.where(Reporter.kind == kind)
    rows = list(session.scalars(query.offset(offset).limit(limit + 1)))
    return ReporterPage(
        items=[_out(r) for r in rows[:limit]], next_offset=offset + limit if len(rows) > limit else None
    )


@router.get("/{reporter_id}/number", responses=NO_NUMBER)
def reveal_number(reporter_id: RowId, operator: CallBacker, session: SessionDep, vault: VaultDep) -> dict[str, str]:
    """The reporter's number, to call them back; every reveal is audited."""
    reporter = session.get(Reporter, reporter_id)
    if reporter is None or not reporter.phone_encrypted:
        raise HTTPException(404, f"no number for reporter {reporter_id}")
    audit.record(session=session, actor=operator.username, action="reporter.reveal", target=f"reporter:{reporter.id}",
                 via="api")  # fmt: skip
    return {"number": vault.decrypt(reporter.phone_encrypted)}


def _out(reporter: Reporter) -> ReporterOut:
    trust = reporter.trust
    if trust is None:  # not computed yet: the prior of their kind
        trust = trust_rules.trust(reporter.kind, reporter.confirmed_reports, reporter.false_reports)
    return ReporterOut(
        id=reporter.id, phone_masked=reporter.phone_masked, kind=reporter.kind, language=reporter.language,
        home_place=reporter.home_place, trust=trust, confirmed_reports=reporter.confirmed_reports,
        false_reports=reporter.false_reports, last_seen_at=reporter.last_seen_at,
    )  # fmt: skip
