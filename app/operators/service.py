"""Operators: create, authenticate with argon2 password hashes, issue and check tokens and their CSRF tokens."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core.clock import utcnow
from app.operators.models import ApiToken, Operator, Role
from app.security.crypto import Vault

_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters
# Compared against when the username is unknown, so that a wrong name costs as long as a wrong password.
_DUMMY_HASH = _hasher.hash("kengele-dummy-password")
MIN_PASSWORD = 12
RANKS = {Role.viewer: 0, Role.operator: 1, Role.callback: 2, Role.admin: 3}


class OperatorError(ValueError):
    """An operator request that cannot be done; the message says why (never echoing a password)."""


def create(*, session: Session, username: str, password: str, role: str) -> Operator:
    """A new operator; OperatorError for a taken name, a weak password or an unknown role."""
    username = username.strip()
    if not (1 <= len(username) <= 64) or not username.replace(".", "").replace("-", "").replace("_", "").isalnum():
        raise OperatorError("username: 1-64 letters, digits, '.', '-' or '_'")
    if len(password) < MIN_PASSWORD:
        raise OperatorError(f"password: at least {MIN_PASSWORD} characters")
    if role not in RANKS:
        raise OperatorError(f"role must be one of {', '.join(RANKS)}")
    if session.scalar(select(Operator.id).where(Operator.username == username)) is not None:
        raise OperatorError(f"operator {username!r} exists already")
    operator = Operator(username=username, password_hash=_hasher.hash(password), role=role, active=True,
                        created_at=utcnow())  # fmt: skip
    session.add(operator)
    session.flush()
    return operator


def authenticate(*, session: Session, username: str, password: str) -> Operator | None:
    """The active operator with this name and password, or None (in about the same time either way)."""
    operator = session.scalar(select(Operator).where(Operator.username == username.strip()))
    try:
        _hasher.verify(operator.password_hash if operator else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return None
    if operator is None or not operator.active:
        return None
    if _hasher.check_needs_rehash(operator.password_hash):
        operator.password_hash = _hasher.hash(password)
    operator.last_login_at = utcnow()
    return operator


def issue_token(*, session: Session, vault: Vault, operator: Operator, lifetime: timedelta) -> tuple[str, datetime]:
    """A new bearer token for the operator, and when it expires; only its keyed hash is stored."""
    token = secrets.token_urlsafe(32)
    expires = utcnow() + lifetime
    session.add(ApiToken(operator_id=operator.id, token_hash=vault.lookup_hash(token, purpose="api-token"),
                         created_at=utcnow(), expires_at=expires))  # fmt: skip
    session.flush()
    return token, expires


def operator_for_token(*, session: Session, vault: Vault, token: str) -> Operator | None:
    """The active operator a live (unexpired, unrevoked) token belongs to."""
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == vault.lookup_hash(token, purpose="api-token")))
    now = utcnow()
    if row is None or row.revoked_at is not None or row.expires_at <= now:
        return None
    operator = session.get(Operator, row.operator_id)
    if operator is None or not operator.active:
        return None
    row.last_used_at = now
    return operator


def revoke_token(*, session: Session, vault: Vault, token: str) -> bool:
    """Revoke a token (sign-out); False when it was not live."""
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == vault.lookup_hash(token, purpose="api-token")))
    if row is None or row.revoked_at is not None:
        return False
    row.revoked_at = utcnow()
    return True


def has_role(operator: Operator, needed: str) -> bool:
    """Whether the operator's role includes `needed` (admin includes everything)."""
    return RANKS.get(operator.role, -1) >= RANKS[needed]  # type: ignore[index]


def csrf_token(*, vault: Vault, token: str) -> str:
    """The CSRF token that goes with a session token: derived with a keyed hash, so nothing more is stored."""
    return vault.lookup_hash(token, purpose="csrf")


def csrf_matches(*, vault: Vault, token: str, cookie: str | None, header: str | None) -> bool:
    """Whether a cookie-authenticated request sent back its session's CSRF token in both cookie and header."""
    if not cookie or not header:
        return False
    expected = csrf_token(vault=vault, token=token)
    # Both must match the derived value: a cookie planted by a sibling host cannot pass for this session's token.
    # Compared as bytes: a str with non-ASCII characters (any header may hold some) would raise instead.
    header_b, cookie_b = header.encode(), cookie.encode()
    return secrets.compare_digest(header_b, cookie_b) and secrets.compare_digest(cookie_b, expected.encode())
