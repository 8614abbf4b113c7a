"""Worker tasks: the scheduled purge, when the last one is older than the configured interval; the provider's
copies of messages, deleted once they serve nobody."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict
from datetime import datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from app.core.clock import utcnow
from app.core.db import transaction
from app.notify.ports import ProviderCopies
from app.retention import provider_copies, service

logger = logging.getLogger(__name__)


def purge_if_due(
    *, factory: sessionmaker[Session], policy: service.Policy, every: timedelta, clock: Callable[[], datetime] = utcnow
) -> bool:
    """Purge once if the last real purge is older than `every`; True when it ran."""
    now = clock()
    with transaction(factory) as session:
        last = service.last_run(session)
        if last is not None and last.started_at > now - every:
            return False
        counts = service.purge(session=session, policy=policy, now=now, trigger="worker")
    engine = factory.kw["bind"]
    if engine.dialect.name != "sqlite":  # SQLite zeroes freed cells (secure_delete); a rebuild needs it stopped
        service.compact(engine)
    logger.info("retention purge: %s", asdict(counts))
    return True


def erase_provider_copies(
    *, factory: sessionmaker[Session], copies: ProviderCopies, after: timedelta, clock: Callable[[], datetime] = utcnow
) -> int:
    """Delete the provider's copies that are due (a batch); returns how many the provider no longer has."""
    with transaction(factory) as session:
        due = provider_copies.due(session=session, now=clock(), after=after)
    if not due:
        return 0
    # Outside any transaction: the provider's answers must not hold locks.
    outcomes = [(copy, copies.delete(copy.kind, copy.sid)) for copy in due]
    with transaction(factory) as session:
        provider_copies.record(session=session, outcomes=outcomes, now=clock())
    failed = Counter(result.error_code for _copy, result in outcomes if not result.accepted)
    deleted = len(outcomes) - sum(failed.values())
    # Sids and counts only: a provider's error text can quote a number.
    logger.info("provider copies deleted: %d; not deleted: %s", deleted, dict(failed) or "none")
    return deleted
