"""The live-feed seam: changes are published with the transaction and delivered only after it commits."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

from app.core.clock import utcnow

logger = logging.getLogger(__name__)
_PENDING = "kengele_feed_events"


@dataclass(frozen=True)
class FeedEvent:
    """One change for the operations centre's feed: no personal data, only the incident's public facts."""

    kind: str  # incident.created, incident.updated, incident.status, incident.merged, incident.split
    incident_ref: str
    data: dict[str, Any] = field(default_factory=dict)
    at: datetime = field(default_factory=utcnow)


Subscriber = Callable[[FeedEvent], None]
_subscribers: list[Subscriber] = []
_lock = threading.Lock()


def subscribe(subscriber: Subscriber) -> Callable[[], None]:
    """Receive every committed event (in-process); returns a function that unsubscribes."""
    with _lock:
        _subscribers.append(subscriber)

    def unsubscribe() -> None:
        with _lock:
            if subscriber in _subscribers:
                _subscribers.remove(subscriber)

    return unsubscribe


def publish(session: Session, feed_event: FeedEvent) -> None:
    """Queue an event on the session; it is delivered if, and only if, the transaction commits."""
    session.info.setdefault(_PENDING, []).append(feed_event)


@event.listens_for(Session, "after_commit")
def _deliver(session: Session) -> None:
    pending = session.info.pop(_PENDING, [])
    with _lock:
        subscribers = list(_subscribers)
    for feed_event in pending:
        for subscriber in subscribers:
            try:
                subscriber(feed_event)
            except Exception:  # a broken subscriber must not break the transaction that already committed
                logger.exception("feed subscriber failed on %s", feed_event.kind)


@event.listens_for(Session, "after_rollback")
def _discard(session: Session) -> None:
    session.info.pop(_PENDING, None)


def checkpoint(session: Session) -> int:
    """How many events are queued now; pass it to discard_since() when a savepoint rolls back."""
    return len(session.info.get(_PENDING, []))


def discard_since(session: Session, mark: int) -> None:
    """Forget events queued after `mark` (their savepoint was rolled back, so they never happened)."""
    pending = session.info.get(_PENDING)
    if pending is not None:
        del pending[mark:]
