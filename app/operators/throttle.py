"""Sign-in throttling: too many failures for one username, or from one client address, and sign-in waits.

Failures are the audit log's `auth.failed` lines (actor: the username tried; target: the client address), so the
count holds across restarts and across server processes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.audit import service as audit
from app.audit.models import AuditEntry
from app.core.config import Settings

FAILED = "auth.failed"


@dataclass(frozen=True)
class Throttle:
    """How many failures, per username and per client, within the window."""

    per_username: int
    per_client: int
    window: timedelta

    @classmethod
    def from_settings(cls, settings: Settings) -> Throttle:
        return cls(settings.login_max_failures, settings.login_max_failures_per_client,
                   timedelta(minutes=settings.login_window_minutes))  # fmt: skip


def client_target(client: str | None) -> str:
    """The audit target naming the client address a sign-in came from."""
    return f"client:{client or '?'}"[:100]


def wait_seconds(*, session: Session, throttle: Throttle, username: str, client: str | None, now: datetime) -> int:
    """Seconds before this username may try again from this client; 0 when it may try now."""
    since = now - throttle.window
    by_name = select(AuditEntry.at).where(AuditEntry.action == FAILED, AuditEntry.actor == (username[:64] or "?"))
    by_client = select(AuditEntry.at).where(AuditEntry.action == FAILED, AuditEntry.target == client_target(client))
    wait = 0.0
    for query, limit in ((by_name, throttle.per_username), (by_client, throttle.per_client)):
        times = list(session.scalars(query.where(AuditEntry.at > since).order_by(AuditEntry.at)))
        if len(times) >= limit:
            # Allowed again once enough of the failures have left the window.
            wait = max(wait, (times[len(times) - limit] + throttle.window - now).total_seconds())
    return max(int(wait) + 1, 1) if wait > 0 else 0


def record_failure(*, session: Session, username: str, client: str | None) -> None:
    """Count one failed sign-in against the username and the client address."""
    audit.record(session=session, actor=username[:64] or "?", action=FAILED, target=client_target(client))
