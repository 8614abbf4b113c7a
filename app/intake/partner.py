"""Adapter: a verified partner report → InboundEnvelope (no database)."""

from __future__ import annotations

from app.intake.schemas import InboundEnvelope, PartnerReportIn
from app.reporters import phones

SOURCE = "partner"


def to_envelope(report: PartnerReportIn, *, partner_id: int, default_region: str) -> InboundEnvelope:
    """Turn a partner report into the neutral envelope; its location and category become hints."""
    reporter = report.reporter
    hints: dict[str, object] = {}
    if report.location is not None:
        hints["location"] = report.location.model_dump()
    if report.place_name:
        hints["place_name"] = report.place_name
    if report.category:
        hints["category"] = report.category
    if report.occurred_at:
        hints["occurred_at"] = report.occurred_at.isoformat()
    return InboundEnvelope(
        source=SOURCE,
        external_id=f"{partner_id}:{report.idempotency_key}",
        channel="partner",
        body=report.text,
        sender_phone=phones.to_e164(reporter.phone, default_region) if reporter and reporter.phone else None,
        partner_id=partner_id,
        member_id=reporter.member_id if reporter else None,
        language=reporter.language if reporter else None,
        hints=hints,
    )
