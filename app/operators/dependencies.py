"""Who is calling the API: the bearer token's operator, and Annotated aliases that demand a role."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, HTTPException
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from app.core.deps import SessionDep, VaultDep
from app.operators import service
from app.operators.models import Operator, Role

_bearer = HTTPBearer(auto_error=False, description="A token from POST /api/v1/auth/token")
_UNAUTHENTICATED = {"WWW-Authenticate": "Bearer"}


def current_operator(
    session: SessionDep, vault: VaultDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Operator:
    """The operator whose live token was presented; 401 otherwise."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise HTTPException(401, "sign in: Authorization: Bearer <token>", headers=_UNAUTHENTICATED)
    operator = service.operator_for_token(session=session, vault=vault, token=credentials.credentials)
    if operator is None:
        raise HTTPException(401, "the token is unknown, expired or revoked", headers=_UNAUTHENTICATED)
    return operator


def requires(role: Role) -> Callable[[Operator], Operator]:
    """A dependency that lets through operators whose role includes `role` (403 otherwise)."""

    def check(operator: Annotated[Operator, Depends(current_operator)]) -> Operator:
        if not service.has_role(operator, role):
            raise HTTPException(403, f"this needs the {role} role")
        return operator

    return check


Viewer = Annotated[Operator, Depends(requires(Role.viewer))]
OperatorOnDuty = Annotated[Operator, Depends(requires(Role.operator))]
CallBacker = Annotated[Operator, Depends(requires(Role.callback))]
Admin = Annotated[Operator, Depends(requires(Role.admin))]
