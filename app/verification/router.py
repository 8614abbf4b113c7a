"""CLAs, the call-back queue for missed calls, and verification answers through the API."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException
from sqlalchemy import select

from app.audit import service as audit
from app.core.clock import utcnow
from app.core.deps import RowId, SessionDep, SettingsDep, VaultDep
from app.escalation import tasks as escalation_tasks
from app.incidents.models import Incident
from app.incidents.schemas import IncidentOut
from app.operators.dependencies import Admin, CallBacker, OperatorOnDuty, Viewer
from app.reporters.models import Reporter
from app.verification import service
from app.verification.models import CallbackTask, Cla
from app.verification.schemas import CallbackOut, ClaIn, ClaOut, TaskUpdate, VerifyIn

router = APIRouter(prefix="/api/v1", tags=["verification"])
FORBIDDEN = {401: {"description": "No, or no live, bearer token"}, 403: {"description": "Role too low"}}
MISSING = {**FORBIDDEN, 404: {"description": "Not found"}, 409: {"description": "Not possible in its state"}}
NEXT = {"claim": ({"open"}, "claimed"), "done": ({"open", "claimed"}, "done"),
        "unreachable": ({"open", "claimed"}, "unreachable")}  # fmt: skip


@router.get("/clas", responses=FORBIDDEN)
def list_clas(_: Viewer, session: SessionDep, settings: SettingsDep) -> list[ClaOut]:
    """Every CLA, with whether they are on duty now."""
    now = utcnow()
    rows = session.execute(select(Cla, Reporter.phone_masked).join(Reporter, Reporter.id == Cla.reporter_id)
                           .order_by(Cla.name)).all()  # fmt: skip
    return [ClaOut(**{k: getattr(c, k) for k in ClaOut.model_fields if hasattr(c, k)}, phone_masked=masked,
                   on_duty=service.on_duty(c, now, settings.timezone)) for c, masked in rows]  # fmt: skip


@router.post("/clas", status_code=201, responses={**FORBIDDEN, 422: {"description": "Bad phone or schedule"}})
def register_cla(body: ClaIn, admin: Admin, session: SessionDep, vault: VaultDep, settings: SettingsDep) -> ClaOut:
    """Register a CLA (or update one by name)."""
    area = service.Area(body.area_name, body.area_lat, body.area_lon, body.area_radius_km)
    try:
        cla = service.register_cla(session=session, vault=vault, name=body.name, phone=body.phone,
                                   default_region=settings.default_region, area=area, languages=body.languages,
                                   schedule=[s.model_dump() for s in body.schedule])  # fmt: skip
    except service.ClaError as exc:
        raise HTTPException(422, str(exc)) from None
    audit.record(session=session, actor=admin.username, action="cla.register", target=f"cla:{cla.id}")
    masked = session.get(Reporter, cla.reporter_id).phone_masked  # type: ignore[union-attr]
    return ClaOut(**{k: getattr(cla, k) for k in ClaOut.model_fields if hasattr(cla, k)}, phone_masked=masked,
                  on_duty=service.on_duty(cla, utcnow(), settings.timezone))  # fmt: skip


@router.get("/callbacks", responses=FORBIDDEN)
def callbacks(_: Viewer, session: SessionDep, status: str = "open") -> list[CallbackOut]:
    """The call-back queue (open tasks by default), oldest first; callers masked."""
    query = (
        select(CallbackTask, Reporter, Cla.name)
        .join(Reporter, Reporter.id == CallbackTask.reporter_id)
        .outerjoin(Cla, Cla.id == CallbackTask.cla_id)
        .where(CallbackTask.status == status[:12])
        .order_by(CallbackTask.created_at)
        .limit(500)
    )
    return [_task_out(task, reporter, cla_name) for task, reporter, cla_name in session.execute(query).all()]


@router.post("/callbacks/{task_id}/{action}", responses=MISSING)
def update_task(
    task_id: RowId, action: str, operator: CallBacker, session: SessionDep, body: TaskUpdate | None = None
) -> CallbackOut:
    """claim, done or unreachable."""
    if action not in NEXT:
        raise HTTPException(404, "action is claim, done or unreachable")
    task = session.get(CallbackTask, task_id, with_for_update=True)
    if task is None:
        raise HTTPException(404, f"no call-back task {task_id}")
    allowed, status = NEXT[action]
    if task.status not in allowed:
        raise HTTPException(409, f"task {task_id} is {task.status}")
    task.status, task.updated_at = status, utcnow()
    task.claimed_by = operator.username if action == "claim" else task.claimed_by
    task.note = body.note if body and body.note else task.note
    audit.record(session=session, actor=operator.username, action=f"callback.{action}", target=f"callback:{task_id}")
    reporter = session.get(Reporter, task.reporter_id)
    cla = session.get(Cla, task.cla_id) if task.cla_id else None
    return _task_out(task, reporter, cla.name if cla else None)  # type: ignore[arg-type]


@router.get("/callbacks/{task_id}/number", responses=MISSING)
def reveal_number(task_id: RowId, operator: CallBacker, session: SessionDep, vault: VaultDep) -> dict[str, str]:
    """The caller's number, to call them back; every reveal is audited."""
    task = session.get(CallbackTask, task_id)
    reporter = session.get(Reporter, task.reporter_id) if task else None
    if reporter is None or not reporter.phone_encrypted:
        raise HTTPException(404, f"no number for call-back task {task_id}")
    audit.record(session=session, actor=operator.username, action="reporter.reveal", target=f"reporter:{reporter.id}",
                 via="api", task=task_id)  # fmt: skip
    return {"number": vault.decrypt(reporter.phone_encrypted)}


@router.post("/incidents/{ref}/verify", responses=MISSING)
def verify(ref: str, body: VerifyIn, operator: OperatorOnDuty, session: SessionDep) -> IncidentOut:
    """Record a verification answer: false stands the units down; confirmed escalates a held alert."""
    incident = session.scalar(select(Incident).where(Incident.ref == ref.upper()))
    if incident is None:
        raise HTTPException(404, "no such incident")  # not echoed: it may be a number typed in the wrong box
    if not escalation_tasks.apply_answer(session, incident, body.answer, actor=operator.username, via="api"):
        raise HTTPException(409, f"{incident.ref} is already {incident.verification}")
    audit.record(session=session, actor=operator.username, action="incident.verify", target=f"incident:{incident.ref}",
                 answer=body.answer)  # fmt: skip
    return IncidentOut.model_validate(incident, from_attributes=True)


def _task_out(task: CallbackTask, reporter: Reporter, cla_name: str | None) -> CallbackOut:
    return CallbackOut(
        id=task.id, caller=reporter.phone_masked, caller_home=reporter.home_place, caller_trust=reporter.trust,
        cla=cla_name, beeps=task.beeps, status=task.status, claimed_by=task.claimed_by, note=task.note,
        created_at=task.created_at, last_beep_at=task.last_beep_at,
    )  # fmt: skip
