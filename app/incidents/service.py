"""Reports: created from inbox rows. Flushes only; the worker owns the transaction."""

from __future__ import annotations

from sqlalchemy.orm import Session

from app.core.clock import utcnow
from app.incidents.models import Report
from app.intake.models import InboundMessage
from app.intake.schemas import InboundEnvelope


def create_report(
    *, session: Session, inbound: InboundMessage, envelope: InboundEnvelope, reporter_id: int | None
) -> Report:
    """Create the report for one inbox row."""
    report = Report(
        inbound_message_id=inbound.id,
        reporter_id=reporter_id,
        partner_id=envelope.partner_id,
        channel=envelope.channel,
        receipt_ref=inbound.receipt_ref,
        body=envelope.body,
        hints=envelope.hints,
        received_at=inbound.received_at,
        created_at=utcnow(),
    )
    session.add(report)
    session.flush()
    return report
