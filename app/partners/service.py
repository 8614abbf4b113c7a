"""Partner credentials: issue, look up and revoke. Flushes only; callers commit."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core.clock import utcnow
from app.partners.models import Partner
from app.security.crypto import Vault

KEY_PREFIX = "kp_"
SECRET_PREFIX = "ks_"  # noqa: S105 - a prefix, not a secret


@dataclass(frozen=True)
class IssuedCredentials:
    """Shown once to the admin who created the partner; only hashes and ciphertext are kept."""

    partner_id: int
    api_key: str
    signing_secret: str


@dataclass(frozen=True)
class PartnerIdentity:
    """An authenticated partner and the secret its bodies are signed with."""

    partner_id: int
    signing_secret: str


def _key_hash(vault: Vault, api_key: str) -> str:
    return vault.lookup_hash(api_key, purpose="partner-key")


def create(*, session: Session, vault: Vault, name: str) -> IssuedCredentials:
    """Register a partner and issue its API key and signing secret."""
    api_key = KEY_PREFIX + secrets.token_urlsafe(24)
    signing_secret = SECRET_PREFIX + secrets.token_urlsafe(32)
    partner = Partner(
        name=name,
        api_key_hash=_key_hash(vault, api_key),
        api_key_prefix=api_key[:10],
        signing_secret_encrypted=vault.encrypt(signing_secret),
        created_at=utcnow(),
    )
    session.add(partner)
    session.flush()
    return IssuedCredentials(partner.id, api_key, signing_secret)


def authenticate(*, session: Session, vault: Vault, api_key: str) -> PartnerIdentity | None:
    """Return the active partner holding this API key, or None."""
    partner = session.scalars(
        select(Partner).where(Partner.api_key_hash == _key_hash(vault, api_key), Partner.revoked_at.is_(None))
    ).one_or_none()
    if partner is None:
        return None
    return PartnerIdentity(partner.id, vault.decrypt(partner.signing_secret_encrypted))


def revoke(*, session: Session, name: str) -> bool:
    """Revoke a partner's key; its requests are refused from now on. Returns False if unknown."""
    partner = session.scalars(select(Partner).where(Partner.name == name)).one_or_none()
    if partner is None:
        return False
    partner.revoked_at = partner.revoked_at or utcnow()
    return True
