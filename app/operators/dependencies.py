"""Who is calling the API (bearer token, or the dashboard's session cookie), and aliases that demand a role."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer

from app.core.db import transaction
from app.core.deps import SessionDep, VaultDep
from app.operators import service
from app.operators.models import Operator, Role

SESSION_COOKIE = "kengele_session"  # HttpOnly: the session token, which page scripts never see
CSRF_COOKIE = "kengele_csrf"  # readable by the page, which sends it back in CSRF_HEADER (double submit)
CSRF_HEADER = "X-CSRF-Token"
# Methods that change nothing: a cross-site page can make the browser send them, but cannot read the answer.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

_bearer = HTTPBearer(auto_error=False, description="A token from POST /api/v1/auth/token")
# Declared so that the OpenAPI document names the browser's way in too; the dashboard is its only user.
_session_cookie = APIKeyCookie(
    name=SESSION_COOKIE, auto_error=False,
    description=f"The dashboard's session (POST /api/v1/auth/session); changes need the {CSRF_HEADER} header",
)  # fmt: skip
_UNAUTHENTICATED = {"WWW-Authenticate": "Bearer"}


def current_operator(
    session: SessionDep,
    vault: VaultDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    request: Request = None,  # type: ignore[assignment]  # FastAPI passes it; direct callers may not
    cookie: Annotated[str | None, Depends(_session_cookie)] = None,
) -> Operator:
    """The operator of the live bearer token, else of the session cookie (changes CSRF-checked: 403); 401 otherwise."""
    if credentials is not None:  # a bearer token always wins: scripts need no CSRF token
        if credentials.scheme.lower() != "bearer":
            raise HTTPException(401, "sign in: Authorization: Bearer <token>", headers=_UNAUTHENTICATED)
        operator = service.operator_for_token(session=session, vault=vault, token=credentials.credentials)
        if operator is None:
            raise HTTPException(401, "the token is unknown, expired or revoked", headers=_UNAUTHENTICATED)
        return operator
    if not cookie or request is None:
        raise HTTPException(401, "sign in: Authorization: Bearer <token>", headers=_UNAUTHENTICATED)
    # Checked before the token is even looked up: a forged request learns nothing and touches no row.
    if request.method not in SAFE_METHODS and not service.csrf_matches(
        vault=vault, token=cookie, cookie=request.cookies.get(CSRF_COOKIE), header=request.headers.get(CSRF_HEADER)
    ):
        raise HTTPException(403, "CSRF check failed")
    operator = service.operator_for_token(session=session, vault=vault, token=cookie)
    if operator is None:
        raise HTTPException(401, "the session has expired or was ended: sign in again", headers=_UNAUTHENTICATED)
    return operator


async def presented_token(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    cookie: Annotated[str | None, Depends(_session_cookie)] = None,
) -> str | None:
    """The token current_operator() accepted for this request: the bearer one, else the session cookie's."""
    return credentials.credentials if credentials is not None else cookie


def require_role(operator: Operator, role: Role) -> Operator:
    """The operator, if their role includes `role`; 403 otherwise."""
    if not service.has_role(operator, role):
        raise HTTPException(403, f"this needs the {role} role")
    return operator


def requires(role: Role) -> Callable[[Operator], Awaitable[Operator]]:
    """A dependency that lets through operators whose role includes `role` (403 otherwise)."""

    # async: it does no I/O, and FastAPI would run a plain function in its thread pool (a thread hop per request).
    async def check(operator: Annotated[Operator, Depends(current_operator)]) -> Operator:
        return require_role(operator, role)

    return check


Viewer = Annotated[Operator, Depends(requires(Role.viewer))]
OperatorOnDuty = Annotated[Operator, Depends(requires(Role.operator))]
CallBacker = Annotated[Operator, Depends(requires(Role.callback))]
Admin = Annotated[Operator, Depends(requires(Role.admin))]


def streaming_viewer(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    cookie: Annotated[str | None, Depends(_session_cookie)] = None,
) -> Operator:
    """A viewer (or higher) by bearer token or session cookie, checked in a transaction that ends before streaming."""
    # Not the Viewer alias: its request session would stay open for the stream's whole life (on SQLite, with the
    # write lock), since a dependency's cleanup runs only after the response has been sent.
    with transaction(request.app.state.sessionmaker) as session:
        operator = current_operator(session, request.app.state.vault, credentials, request, cookie)
        return require_role(operator, Role.viewer)
