"""Adapter: a verified Twilio SMS or call form → InboundEnvelope (no database)."""

from __future__ import annotations

from app.intake.schemas import InboundEnvelope, TwilioSmsForm, TwilioVoiceForm
from app.reporters import phones

SOURCE = "twilio_sms"
VOICE_SOURCE = "twilio_voice"


def to_envelope(form: TwilioSmsForm, *, default_region: str) -> InboundEnvelope:
    """Turn Twilio's form into the neutral envelope; every field Twilio sent is kept for the record."""
    dumped = form.model_dump(by_alias=True, exclude={"exercise"})  # ours, not Twilio's: carried as `exercise`
    fields = {key: str(value) for key, value in dumped.items() if value is not None}
    return InboundEnvelope(
        source=SOURCE,
        external_id=form.message_sid,
        channel="sms",
        body=form.body,
        sender_phone=phones.sender_key(form.sender, default_region),
        provider_fields=fields,
        exercise=form.exercise,
    )


def voice_to_envelope(form: TwilioVoiceForm, *, default_region: str) -> InboundEnvelope:
    """A missed call ("a beep"): no words, only who called and when; kept like any message."""
    fields = {key: str(value) for key, value in form.model_dump(by_alias=True).items() if value is not None}
    return InboundEnvelope(
        source=VOICE_SOURCE,
        external_id=form.call_sid,
        channel="voice",
        body="",
        sender_phone=phones.sender_key(form.sender, default_region),
        provider_fields=fields,
    )
