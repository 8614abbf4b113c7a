"""Sign-in (OAuth2 password flow → bearer token), operator accounts and the audit log."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Response
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer, OAuth2PasswordRequestForm
from sqlalchemy import select

from app.audit import service as audit
from app.core.deps import SessionDep, SettingsDep, VaultDep
from app.operators import service
from app.operators.dependencies import Admin, Viewer
from app.operators.models import Operator
from app.operators.schemas import AuditOut, OperatorIn, OperatorOut, OperatorPatch, TokenOut

router = APIRouter(prefix="/api/v1", tags=["operators"])
UNAUTHORIZED = {401: {"description": "No, or no live, bearer token"}}
FORBIDDEN = {**UNAUTHORIZED, 403: {"description": "The operator's role does not allow this"}}


@router.post("/auth/token", response_model=TokenOut, responses={401: {"description": "Wrong username or password"}})
def issue_token(
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    session: SessionDep,
    vault: VaultDep,
    settings: SettingsDep,
) -> TokenOut | JSONResponse:
    """Exchange a username and password for a bearer token (OAuth2 password flow), for scripts."""
    operator = service.authenticate(session=session, username=form.username, password=form.password)
    if operator is None:
        # Returned, not raised: the request's transaction commits, and with it the audit line.
        audit.record(session=session, actor=form.username[:64] or "?", action="auth.failed")
        return JSONResponse({"detail": "wrong username or password"}, 401, headers={"WWW-Authenticate": "Bearer"})
    lifetime = timedelta(hours=settings.token_hours)
    token, _ = service.issue_token(session=session, vault=vault, operator=operator, lifetime=lifetime)
    audit.record(session=session, actor=operator.username, action="auth.token")
    return TokenOut(access_token=token, expires_in=int(lifetime.total_seconds()))


@router.post("/auth/logout", status_code=204, response_class=Response, responses=UNAUTHORIZED)
def logout(
    operator: Viewer, session: SessionDep, vault: VaultDep,
    credentials: Annotated[HTTPAuthorizationCredentials, Depends(HTTPBearer())],
) -> Response:  # fmt: skip
    """Revoke the token used for this request."""
    service.revoke_token(session=session, vault=vault, token=credentials.credentials)
    audit.record(session=session, actor=operator.username, action="auth.logout")
    return Response(status_code=204)


@router.get("/auth/me", responses=UNAUTHORIZED)
def me(operator: Viewer) -> OperatorOut:
    """The signed-in operator."""
    return OperatorOut.model_validate(operator, from_attributes=True)


@router.get("/operators", responses=FORBIDDEN)
def list_operators(_: Admin, session: SessionDep) -> list[OperatorOut]:
    """Every operator account."""
    return [OperatorOut.model_validate(o, from_attributes=True)
            for o in session.scalars(select(Operator).order_by(Operator.username))]  # fmt: skip


@router.post("/operators", status_code=201, responses={**FORBIDDEN, 409: {"description": "Username taken"}})
def create_operator(body: OperatorIn, admin: Admin, session: SessionDep) -> OperatorOut:
    """Create an operator account."""
    try:
        operator = service.create(session=session, username=body.username, password=body.password, role=body.role)
    except service.OperatorError as exc:
        raise HTTPException(409 if "exists" in str(exc) else 422, str(exc)) from None
    audit.record(session=session, actor=admin.username, action="operator.create", target=f"operator:{body.username}",
                 role=body.role)  # fmt: skip
    return OperatorOut.model_validate(operator, from_attributes=True)


@router.patch("/operators/{username}", responses={**FORBIDDEN, 404: {"description": "No such operator"}})
def update_operator(username: str, body: OperatorPatch, admin: Admin, session: SessionDep) -> OperatorOut:
    """Change an operator's role, or switch the account off (its tokens stop working at once)."""
    operator = session.scalar(select(Operator).where(Operator.username == username))
    if operator is None:
        raise HTTPException(404, f"no operator {username!r}")
    changes = body.model_dump(exclude_none=True)
    for key, value in changes.items():
        setattr(operator, key, value)
    audit.record(session=session, actor=admin.username, action="operator.update", target=f"operator:{username}",
                 **{k: str(v) for k, v in changes.items()})  # fmt: skip
    return OperatorOut.model_validate(operator, from_attributes=True)


@router.get("/audit", responses=FORBIDDEN)
def audit_log(
    _: Admin, session: SessionDep, limit: Annotated[int, Query(ge=1, le=500)] = 100,
    before_id: Annotated[int | None, Query(ge=1, description="entries older than this id (next page)")] = None,
) -> list[AuditOut]:  # fmt: skip
    """The audit log, newest first."""
    return [AuditOut.model_validate(e, from_attributes=True)
            for e in audit.recent(session=session, limit=limit, before_id=before_id)]  # fmt: skip
