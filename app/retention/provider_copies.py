"""Twilio's own copies: every message and call it carried stays in its logs (the reporter's number, the body) until
deleted. Once Kengele has stored and processed an inbound message, and once a message to a reporter has reached a
final status, its copy at Twilio serves nobody: these functions find those records and note which are gone."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.intake.models import InboundMessage
from app.notify.models import Notification
from app.notify.ports import ProviderCopyKind, SendResult, is_terminal

# The provider's record kind of each inbound source Twilio carried.
INBOUND_KINDS: dict[str, ProviderCopyKind] = {"twilio_sms": "message", "twilio_voice": "call"}
OUTBOUND_KINDS: dict[str, ProviderCopyKind] = {"sms": "message", "voice": "call"}
# Twilio refuses to delete a message still on its way. Without a status callback (no public URL) the final
# status never arrives, so a message to a reporter is tried anyway this long after it was sent.
UNCONFIRMED_WAIT = timedelta(hours=24)
# Tried once a minute (the worker's loop) while Twilio is down or busy, for a day at most; a refusal ends it at once.
MAX_ATTEMPTS = 24 * 60
BATCH = 50


@dataclass(frozen=True)
class ProviderCopy:
    """One record at the provider to delete: which table and row note it, and the provider's kind and sid."""

    model: type[InboundMessage] | type[Notification]
    row_id: int
    kind: ProviderCopyKind
    sid: str


def due(*, session: Session, now: datetime, after: timedelta) -> list[ProviderCopy]:
    """Copies to delete now: inbound messages processed, and messages to reporters finished, `after` ago or more."""
    inbound = session.execute(
        select(InboundMessage.id, InboundMessage.source, InboundMessage.external_id)
        .where(
            InboundMessage.provider_deleted_at.is_(None),
            InboundMessage.source.in_(list(INBOUND_KINDS)),
            InboundMessage.received_at <= now - after,
            InboundMessage.processed_at.is_not(None),
            InboundMessage.provider_delete_attempts < MAX_ATTEMPTS,
        )
        .order_by(InboundMessage.received_at)
        .limit(BATCH)
    )
    outbound = session.execute(
        select(
            Notification.id,
            Notification.channel,
            Notification.provider_id,
            Notification.provider_status,
            Notification.sent_at,
        )
        .where(
            Notification.reporter_id.is_not(None),
            Notification.provider_id.is_not(None),
            Notification.provider_deleted_at.is_(None),
            Notification.channel.in_(list(OUTBOUND_KINDS)),
            Notification.sent_at <= now - after,
            Notification.provider_delete_attempts < MAX_ATTEMPTS,
        )
        .order_by(Notification.sent_at)
        .limit(BATCH)
    )
    copies = [ProviderCopy(InboundMessage, row_id, INBOUND_KINDS[source], sid) for row_id, source, sid in inbound]
    return copies + [
        ProviderCopy(Notification, row_id, OUTBOUND_KINDS[channel], sid)
        for row_id, channel, sid, status, sent_at in outbound
        if is_terminal(status) or sent_at <= now - UNCONFIRMED_WAIT
    ]


def record(*, session: Session, outcomes: list[tuple[ProviderCopy, SendResult]], now: datetime) -> None:
    """Note what the provider said: gone, try again later, or (refused for good) stop trying."""
    for copy, result in outcomes:
        columns = copy.model.__table__.c
        if result.accepted:
            values = {"provider_deleted_at": now}
        elif result.retryable:
            values = {"provider_delete_attempts": columns.provider_delete_attempts + 1}
        else:
            values = {"provider_delete_attempts": MAX_ATTEMPTS}
        session.execute(update(copy.model).where(columns.id == copy.row_id).values(values))
