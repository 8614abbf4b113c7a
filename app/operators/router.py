"""Sign-in (bearer token for scripts, session cookie for the dashboard), operator accounts and the audit log."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request, Response
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer, OAuth2PasswordRequestForm
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.audit import service as audit
from app.core.clock import utcnow
from app.core.config import Settings
from app.core.db import MAX_ROW_ID, transaction
from app.core.deps import SessionDep, SettingsDep, VaultDep
from app.operators import service
from app.operators.dependencies import CSRF_COOKIE, SESSION_COOKIE, Admin, Viewer, presented_token
from app.operators.models import Operator
from app.operators.schemas import AuditOut, OperatorIn, OperatorOut, OperatorPatch, TokenOut
from app.operators.throttle import Throttle, record_failure, wait_seconds

router = APIRouter(prefix="/api/v1", tags=["operators"])
UNAUTHORIZED = {401: {"description": "No, or no live, bearer token"}}
FORBIDDEN = {**UNAUTHORIZED, 403: {"description": "The operator's role does not allow this"}}


@router.post("/auth/token", response_model=TokenOut, responses={
    401: {"description": "Wrong username or password"}, 429: {"description": "Too many failed sign-ins: wait"},
})  # fmt: skip
def issue_token(
    request: Request,
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    session: SessionDep,
    vault: VaultDep,
    settings: SettingsDep,
) -> TokenOut | JSONResponse:
    """Exchange a username and password for a bearer token (OAuth2 password flow), for scripts."""
    client = request.client.host if request.client else None
    refused = _throttled(session, settings, form.username, client)
    if refused is not None:
        return refused
    operator = service.authenticate(session=session, username=form.username, password=form.password)
    if operator is None:
        # Returned, not raised: the request's transaction commits, and with it the audit line.
        record_failure(session=session, username=form.username, client=client)
        return JSONResponse({"detail": "wrong username or password"}, 401, headers={"WWW-Authenticate": "Bearer"})
    lifetime = timedelta(hours=settings.token_hours)
    token, _ = service.issue_token(session=session, vault=vault, operator=operator, lifetime=lifetime)
    audit.record(session=session, actor=operator.username, action="auth.token")
    return TokenOut(access_token=token, expires_in=int(lifetime.total_seconds()))


@router.post("/auth/logout", status_code=204, response_class=Response, responses={
    **UNAUTHORIZED, 403: {"description": "A session cookie without its CSRF token"},
})  # fmt: skip
def logout(
    operator: Viewer, session: SessionDep, vault: VaultDep,
    credentials: Annotated[HTTPAuthorizationCredentials, Depends(HTTPBearer())],
) -> Response:  # fmt: skip
    """Revoke the token used for this request."""
    service.revoke_token(session=session, vault=vault, token=credentials.credentials)
    audit.record(session=session, actor=operator.username, action="auth.logout")
    return Response(status_code=204)


# The browser's sign-in: left out of the OpenAPI document, which is for scripts (they use /auth/token), and whose
# every operation is checked to refuse a caller without a token (these two are how one gets such a token).
@router.post("/auth/session", include_in_schema=False)
def open_session(
    request: Request,
    username: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=200)],
    vault: VaultDep,
    settings: SettingsDep,
) -> JSONResponse:
    """Sign in from the dashboard: an HttpOnly session cookie holding a token, and its CSRF cookie."""
    if not _same_origin(request, settings.public_base_url):
        # A page elsewhere must not sign the browser in to an account of its choosing (login CSRF).
        return JSONResponse({"detail": "cross-origin sign-in refused"}, 403)
    # A transaction of its own, committed before the answer leaves: the request's session commits only after the
    # response is sent, and the browser's very next request must find the token (PostgreSQL would not, yet).
    client = request.client.host if request.client else None
    with transaction(request.app.state.sessionmaker) as session:
        refused = _throttled(session, settings, username, client)
        if refused is not None:
            return refused
        operator = service.authenticate(session=session, username=username, password=password)
        if operator is None:
            record_failure(session=session, username=username, client=client)
        else:
            lifetime = timedelta(hours=settings.token_hours)
            token, expires = service.issue_token(session=session, vault=vault, operator=operator, lifetime=lifetime)
            audit.record(session=session, actor=operator.username, action="auth.session")
            who = {"username": operator.username, "role": operator.role, "expires_at": expires.isoformat()}
    if operator is None:
        return JSONResponse({"detail": "wrong username or password"}, 401)
    answer = JSONResponse(who)
    secure = _over_https(request, settings.public_base_url)
    seconds = int(lifetime.total_seconds())
    answer.set_cookie(SESSION_COOKIE, token, max_age=seconds, path="/", secure=secure, httponly=True,
                      samesite="strict")  # fmt: skip
    answer.set_cookie(CSRF_COOKIE, service.csrf_token(vault=vault, token=token), max_age=seconds, path="/",
                      secure=secure, httponly=False, samesite="strict")  # fmt: skip
    return answer


@router.delete("/auth/session", status_code=204, response_class=Response, include_in_schema=False)
def close_session(
    request: Request, operator: Viewer, session: SessionDep, vault: VaultDep, settings: SettingsDep,
    token: Annotated[str | None, Depends(presented_token)],
) -> Response:  # fmt: skip
    """Sign out of the dashboard: the session's token is revoked and its cookies cleared."""
    if token:
        service.revoke_token(session=session, vault=vault, token=token)
    audit.record(session=session, actor=operator.username, action="auth.logout")
    answer = Response(status_code=204)
    secure = _over_https(request, settings.public_base_url)
    answer.delete_cookie(SESSION_COOKIE, path="/", secure=secure, httponly=True, samesite="strict")
    answer.delete_cookie(CSRF_COOKIE, path="/", secure=secure, samesite="strict")
    return answer


def _throttled(session: Session, settings: Settings, username: str, client: str | None) -> JSONResponse | None:
    """A 429 with Retry-After while the username or the client has failed too often; None to go ahead."""
    wait = wait_seconds(session=session, throttle=Throttle.from_settings(settings), username=username, client=client,
                        now=utcnow())  # fmt: skip
    if not wait:
        return None
    audit.record(session=session, actor=username[:64] or "?", action="auth.throttled")
    return JSONResponse({"detail": f"too many failed sign-ins: try again in {wait} s"}, 429,
                        headers={"Retry-After": str(wait)})  # fmt: skip


def _over_https(request: Request, public_base_url: str | None) -> bool:
    """Whether the cookies must be Secure: the request came over TLS, or the deployment is published on https."""
    # Behind a TLS proxy the request itself may look like plain http; the published URL says what browsers use.
    return request.url.scheme == "https" or (public_base_url or "").startswith("https://")


def _same_origin(request: Request, public_base_url: str | None) -> bool:
    """Whether a browser's Origin (when it sent one) is this server, as reached directly or as published."""
    origin = request.headers.get("origin")
    if origin is None:  # not a browser, or one that sends no Origin on a same-origin POST
        return True
    netloc = urlsplit(origin).netloc
    published = urlsplit(public_base_url).netloc if public_base_url else None
    return netloc in {request.headers.get("host"), published} - {None}


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
        raise HTTPException(404, "no such operator")
    changes = body.model_dump(exclude_none=True)
    for key, value in changes.items():
        setattr(operator, key, value)
    audit.record(session=session, actor=admin.username, action="operator.update", target=f"operator:{username}",
                 **{k: str(v) for k, v in changes.items()})  # fmt: skip
    return OperatorOut.model_validate(operator, from_attributes=True)


@router.get("/audit", responses=FORBIDDEN)
def audit_log(
    _: Admin, session: SessionDep, limit: Annotated[int, Query(ge=1, le=500)] = 100,
    before_id: Annotated[
        int | None, Query(ge=1, le=MAX_ROW_ID, description="entries older than this id (next page)")
    ] = None,
) -> list[AuditOut]:  # fmt: skip
    """The audit log, newest first."""
    return [AuditOut.model_validate(e, from_attributes=True)
            for e in audit.recent(session=session, limit=limit, before_id=before_id)]  # fmt: skip
