"""The outbox: queue a message as a row, claim due rows, record what the provider said, apply status callbacks."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import case, func, select, update
from sqlalchemy.orm import Session

from app.core.db import insert_ignore
from app.incidents.models import Incident
from app.notify.models import Notification
from app.notify.ports import SendResult, is_terminal, should_advance

# A row left "sending" this long belongs to a worker that died mid-send: whether the provider took it is
# unknown, and sending again could duplicate an alert, so it is marked unknown instead (escalation goes on).
SENDING_STALE = timedelta(minutes=5)
# Every message about a drill opens with this, whoever wrote it (alert, stand-down, CLA request, dispatch), so
# that nobody can read a drill as real. Bilingual: the reader's language is not always known.
EXERCISE_MARK = "EXERCICE/EXERCISE - "  # a plain hyphen: an em dash would force UCS-2, halving an SMS
# Messages that move a unit (or stop it moving) go before the rest when more is due than the senders can send at
# once, as in a flood: a unit's alert SMS must not queue behind other incidents' calls, CLA requests and receipts.
URGENT_PURPOSES = ("alert", "dispatch", "stand_down")
_URGENCY = case(
    (Notification.purpose.in_(URGENT_PURPOSES) & (Notification.channel != "voice"), 0),
    (Notification.purpose.in_(URGENT_PURPOSES), 1),  # the alert call follows its SMS: it rings, then speaks
    else_=2,
)


def enqueue(
    *, session: Session, key: str, purpose: str, channel: str, masked: str, text: str, now: datetime,
    contact_id: int | None = None, reporter_id: int | None = None, incident_id: int | None = None,
    unit_id: int | None = None, validity_s: int | None = None, language: str | None = None,
) -> bool:  # fmt: skip
    """Write the intent to send to a unit contact or a reporter; a key already written is a no-op (False)."""
    if (contact_id is None) == (reporter_id is None):
        raise ValueError("a notification goes to one unit contact or one reporter")
    exercise = about_a_drill(session, incident_id)
    text = mark_exercise(text) if exercise else text
    return insert_ignore(
        session, Notification,
        {
            "key": key, "purpose": purpose, "channel": channel, "contact_id": contact_id, "reporter_id": reporter_id,
            "address_masked": masked[:64], "text": text, "incident_id": incident_id, "unit_id": unit_id,
            "validity_s": validity_s, "language": language, "state": "pending", "attempts": 0,
            "next_attempt_at": now, "created_at": now, "exercise": exercise,
        },
        ["key"],
    )  # fmt: skip


def about_a_drill(session: Session, incident_id: int | None) -> bool:
    """Whether the message is about an exercise incident."""
    incident = session.get(Incident, incident_id) if incident_id is not None else None
    return bool(incident is not None and incident.exercise)


def mark_exercise(text: str) -> str:
    """The text opening with the exercise mark (once)."""
    return text if text.startswith(EXERCISE_MARK) else EXERCISE_MARK + text


def oldest_due(*, session: Session, now: datetime) -> datetime | None:
    """When the longest-waiting pending message fell due; None when none is due."""
    query = select(func.min(Notification.next_attempt_at)).where(
        Notification.state == "pending", Notification.next_attempt_at <= now
    )
    return session.scalar(query)


def claim_due(*, session: Session, now: datetime, limit: int) -> list[Notification]:
    """Lock due pending rows, most urgent first (skipping rows another worker holds), and mark them sending."""
    query = (
        select(Notification)
        .where(Notification.state == "pending", Notification.next_attempt_at <= now)
        .order_by(_URGENCY, Notification.next_attempt_at, Notification.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    rows = list(session.scalars(query))
    for row in rows:
        # next_attempt_at now says when the send began: release_stale measures from it.
        row.state, row.attempts, row.next_attempt_at = "sending", row.attempts + 1, now
    return rows


def record_result(
    row: Notification, result: SendResult, *, now: datetime, retry_seconds: list[int], max_attempts: int
) -> None:
    """Apply a channel's answer: sent, retry later, or failed for good."""
    if result.accepted:
        row.state, row.provider_id, row.provider_status, row.sent_at = "sent", result.provider_id, result.status, now
        row.error_code = row.error_detail = None
        return
    row.error_code, row.error_detail = result.error_code, (result.error_detail or "")[:200]
    if result.retryable and row.attempts < max_attempts:
        delay = retry_seconds[min(row.attempts - 1, len(retry_seconds) - 1)]
        row.state, row.next_attempt_at = "pending", now + timedelta(seconds=delay)
    else:
        row.state = "failed"


def release_stale(*, session: Session, now: datetime) -> int:
    """Rows a dead worker left mid-send become "unknown": never re-sent blindly."""
    result = session.execute(
        update(Notification)
        .where(Notification.state == "sending", Notification.next_attempt_at <= now - SENDING_STALE)
        .values(state="unknown", error_code="worker_lost", error_detail="the worker stopped while sending")
    )
    return result.rowcount or 0


def apply_status(*, session: Session, provider_id: str, status: str, error_code: str | None, now: datetime) -> bool:
    """A provider's status callback; never moves a status backwards. Returns whether the row changed."""
    row = session.scalar(select(Notification).where(Notification.provider_id == provider_id).with_for_update())
    if row is None or not should_advance(row.provider_status, status):
        return False
    row.provider_status, row.status_at = status, now
    if error_code:
        row.error_code = str(error_code)[:32]
    if is_terminal(status) and status in ("failed", "undelivered"):
        row.error_detail = f"provider reported {status}"
    return True


def cancel_pending(*, session: Session, incident_id: int, purposes: tuple[str, ...]) -> int:
    """Cancel queued messages that are no longer wanted (an acknowledged alert's next repeats)."""
    result = session.execute(
        update(Notification)
        .where(
            Notification.incident_id == incident_id,
            Notification.state == "pending",
            Notification.purpose.in_(purposes),
        )
        .values(state="canceled")
    )
    return result.rowcount or 0


def by_provider_id(*, session: Session, provider_id: str) -> Notification | None:
    """The notification a provider knows by this id (a call's CallSid)."""
    return session.scalar(select(Notification).where(Notification.provider_id == provider_id))
