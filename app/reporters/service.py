"""Reporter lookups and registration; the number is only ever stored encrypted."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core.clock import utcnow
from app.core.db import insert_ignore
from app.reporters import phones
from app.reporters.models import Reporter, ReporterKind
from app.security.crypto import Vault


def phone_identity(vault: Vault, e164_or_raw: str) -> str:
    """The identity hash of a phone sender."""
    return vault.lookup_hash(e164_or_raw, purpose="phone")


def member_identity(vault: Vault, partner_id: int, member_id: str) -> str:
    """The identity hash of a partner's member who has no phone number on file."""
    return vault.lookup_hash(f"{partner_id}:{member_id}", purpose="partner-member")


def get_by_identity(*, session: Session, identity_hash: str) -> Reporter | None:
    """Get a reporter by identity hash."""
    return session.scalars(select(Reporter).where(Reporter.identity_hash == identity_hash)).one_or_none()


def preferred_language(*, session: Session, identity_hash: str | None) -> str | None:
    """The reply language a known reporter asked for, if any."""
    if identity_hash is None:
        return None
    return session.scalar(select(Reporter.language).where(Reporter.identity_hash == identity_hash))


def get_or_create(
    *,
    session: Session,
    vault: Vault,
    identity_hash: str,
    phone: str | None,
    kind: ReporterKind = ReporterKind.villager,
    language: str | None = None,
    partner_id: int | None = None,
) -> Reporter:
    """Get the reporter with this identity, registering them on first contact; updates last_seen_at."""
    now = utcnow()
    # Insert-or-ignore, then read: two workers meeting a new number at once must not collide.
    insert_ignore(
        session,
        Reporter,
        {
            "identity_hash": identity_hash,
            "phone_encrypted": vault.encrypt(phone) if phone else None,
            "phone_masked": phones.mask(phone) if phone and phone.startswith("+") else None,
            "kind": kind,
            "language": language,
            "partner_id": partner_id,
            "created_at": now,
            "last_seen_at": now,
        },
        conflict=["identity_hash"],
    )
    reporter = get_by_identity(session=session, identity_hash=identity_hash)
    assert reporter is not None
    reporter.last_seen_at = now
    if language and not reporter.language:
        reporter.language = language
    return reporter
