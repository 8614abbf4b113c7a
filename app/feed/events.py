"""The live-feed seam: changes are published with the transaction, written to `feed_event` as it commits, and
delivered to in-process subscribers only after it committed."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import event, insert, text
from sqlalchemy.orm import Session, SessionTransaction

from app.core.clock import utcnow
from app.feed.models import FeedEventRow

logger = logging.getLogger(__name__)
_PENDING = "kengele_feed_events"
_MARKS = "kengele_feed_marks"
CHANNEL = "kengele_feed"  # PostgreSQL NOTIFY channel: "the feed grew", sent at commit
# PostgreSQL: taken just before the feed rows are inserted and held until COMMIT, so feed ids commit in
# increasing order and a reader that has passed id N never sees a smaller id appear later (4821 is clustering's).
_ORDER_LOCK = 4822
# The payload is the newest id: under the order lock, that is the last row this transaction wrote.
_NOTIFY_LAST = text("SELECT pg_notify(:channel, (SELECT max(id) FROM feed_event)::text)")
# What a feed event may carry: public facts of the incident. Never a phone number, a name or a message body.
# `exercise` marks a drill, so that no screen can show one as real.
PUBLIC_FIELDS = frozenset({"status", "category", "severity", "priority", "exercise"})


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
    """Queue an event on the session; it is stored and delivered if, and only if, the transaction commits."""
    private = set(feed_event.data) - PUBLIC_FIELDS
    if private:
        raise ValueError(f"feed events carry only {sorted(PUBLIC_FIELDS)}, not {sorted(private)}")
    session.info.setdefault(_PENDING, []).append(feed_event)


def checkpoint(session: Session) -> int:
    """How many events are queued now; pass it to discard_since() when a savepoint rolls back."""
    return len(session.info.get(_PENDING, []))


def discard_since(session: Session, mark: int) -> None:
    """Forget events queued after `mark` (their savepoint was rolled back, so they never happened)."""
    pending = session.info.get(_PENDING)
    if pending is not None:
        del pending[mark:]


@event.listens_for(Session, "before_commit")
def _store(session: Session) -> None:
    # A savepoint's release is no commit: its events wait for the enclosing transaction.
    pending = session.info.get(_PENDING)
    if session.in_nested_transaction() or not pending:
        return
    # Everything else first: while the order lock is held, this transaction only appends to the feed and commits.
    session.flush()
    postgresql = session.get_bind().dialect.name == "postgresql"
    if postgresql:
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _ORDER_LOCK})
    # One executemany: a batch of reports queues dozens of events, and nothing here needs their ids back.
    rows = [{"at": e.at, "kind": e.kind, "ref": e.incident_ref, "data": dict(e.data)} for e in pending]
    session.execute(insert(FeedEventRow), rows)
    if postgresql:  # PostgreSQL delivers it to listeners only when (and if) this transaction commits
        session.execute(_NOTIFY_LAST, {"channel": CHANNEL})


@event.listens_for(Session, "after_commit")
def _deliver(session: Session) -> None:
    if session.in_nested_transaction():
        return
    pending = session.info.pop(_PENDING, [])
    with _lock:
        subscribers = list(_subscribers)
    for feed_event in pending:
        for subscriber in subscribers:
            try:
                subscriber(feed_event)
            except Exception:  # a broken subscriber must not break the transaction that already committed
                logger.exception("feed subscriber failed on %s", feed_event.kind)


@event.listens_for(Session, "after_transaction_create")
def _mark_savepoint(session: Session, transaction: SessionTransaction) -> None:
    if transaction.nested:
        session.info.setdefault(_MARKS, {})[transaction] = checkpoint(session)


@event.listens_for(Session, "after_transaction_end")
def _forget_savepoint(session: Session, transaction: SessionTransaction) -> None:
    session.info.get(_MARKS, {}).pop(transaction, None)


@event.listens_for(Session, "after_rollback")
def _discard(session: Session) -> None:
    savepoint = session.get_nested_transaction()
    if savepoint is None:
        session.info.pop(_PENDING, None)
    else:  # only what the rolled-back savepoint queued; the enclosing transaction's events still stand
        discard_since(session, session.info.get(_MARKS, {}).get(savepoint, checkpoint(session)))
