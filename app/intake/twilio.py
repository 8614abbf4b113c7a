"""Adapter: a verified Twilio SMS form → InboundEnvelope (no database)."""

from __future__ import annotations

from app.intake.schemas import InboundEnvelope, TwilioSmsForm
from app.reporters import phones

SOURCE = "twilio_sms"


def to_envelope(form: TwilioSmsForm, *, default_region: str) -> InboundEnvelope:
    """Turn Twilio's form into the neutral envelope; every field Twilio sent is kept for the record."""
    fields = {key: str(value) for key, value in form.model_dump(by_alias=True).items() if value is not None}
    return InboundEnvelope(
        source=SOURCE,
        external_id=form.message_sid,
        channel="sms",
        body=form.body,
        sender_phone=phones.sender_key(form.sender, default_region),
        provider_fields=fields,
    )
