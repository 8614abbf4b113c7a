"""Write audit entries in the same transaction as the action they record."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.audit.models import AuditEntry
from app.core.clock import utcnow


def record(*, session: Session, actor: str, action: str, target: str | None = None, **detail: Any) -> None:
    """Append one entry; `detail` must hold no phone number or message text."""
    session.add(AuditEntry(at=utcnow(), actor=actor, action=action, target=target, detail=detail))


def recent(*, session: Session, limit: int = 100, before_id: int | None = None) -> list[AuditEntry]:
    """The latest entries, newest first (keyset pagination by id)."""
    query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if before_id is not None:
        query = query.where(AuditEntry.id < before_id)
    return list(session.scalars(query))
