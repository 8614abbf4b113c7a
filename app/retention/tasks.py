"""Worker task: the scheduled purge, when the last one is older than the configured interval."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict
from datetime import datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from app.core.clock import utcnow
from app.core.db import transaction
from app.retention import service

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
