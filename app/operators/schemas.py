"""Operator and token shapes of the API."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from app.operators.models import Role


class TokenOut(BaseModel):
    """An OAuth2 bearer token response."""

    access_token: str
    token_type: str = "bearer"  # noqa: S105 - the OAuth2 token type, not a secret
    expires_in: int = Field(description="seconds until the token expires")


class OperatorOut(BaseModel):
    """An operator as the API shows one (never the password hash)."""

    username: str
    role: Role
    active: bool
    created_at: datetime
    last_login_at: datetime | None


class OperatorIn(BaseModel):
    """A new operator."""

    username: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")
    password: str = Field(min_length=12, max_length=200)
    role: Role


class OperatorPatch(BaseModel):
    """Change an operator's role or switch the account off."""

    role: Role | None = None
    active: bool | None = None


class AuditOut(BaseModel):
    """One audit entry."""

    id: int
    at: datetime
    actor: str
    action: str
    target: str | None
    detail: dict
