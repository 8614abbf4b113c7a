"""What arrives at the intake endpoints, and the provider-neutral envelope stored in the inbox."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class TwilioSmsForm(BaseModel):
    """The fields of Twilio's inbound SMS webhook we rely on; Twilio adds others without notice."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    message_sid: str = Field(alias="MessageSid", pattern=r"^(SM|MM)[0-9a-fA-F]{32}$")
    account_sid: str | None = Field(None, alias="AccountSid", max_length=64)
    sender: str = Field(alias="From", min_length=1, max_length=64)
    to: str | None = Field(None, alias="To", max_length=64)
    body: str = Field("", alias="Body", max_length=1600)
    num_media: int = Field(0, alias="NumMedia", ge=0, le=10)
    # Twilio never sends this field and a sender cannot add one to Twilio's request: only whoever holds the auth
    # token (`kengele simulate --exercise`) can sign it in, so a signed "1" is a drill we can trust.
    exercise: bool = Field(False, alias="KengeleExercise", description="1: a drill (only `kengele simulate` sets it)")


class TwilioVoiceForm(BaseModel):
    """The fields of Twilio's inbound call webhook we rely on: who is calling, on which call."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    call_sid: str = Field(alias="CallSid", pattern=r"^CA[0-9a-fA-F]{32}$")
    account_sid: str | None = Field(None, alias="AccountSid", max_length=64)
    sender: str = Field(alias="From", min_length=1, max_length=64)
    to: str | None = Field(None, alias="To", max_length=64)
    call_status: str | None = Field(None, alias="CallStatus", max_length=20)


class PartnerReporter(BaseModel):
    """Who in the partner's network sent the report; all optional, never a name."""

    model_config = ConfigDict(extra="forbid")

    member_id: str | None = Field(None, min_length=1, max_length=100, description="The partner's own id")
    phone: str | None = Field(None, min_length=3, max_length=32, description="For call-backs; stored encrypted")
    language: str | None = Field(None, pattern=r"^[a-z]{2,3}$", description="ISO 639 code of the reply language")


class PartnerLocation(BaseModel):
    """Coordinates the partner already knows (WGS 84)."""

    model_config = ConfigDict(extra="forbid")

    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    precision_m: float | None = Field(None, gt=0, le=1_000_000)


class PartnerReportIn(BaseModel):
    """A report pushed by a partner network."""

    model_config = ConfigDict(extra="forbid")

    idempotency_key: str = Field(
        min_length=1,
        max_length=128,
        pattern=r"^[\x21-\x7e]+$",
        description="Partner-chosen unique key; resending the same key never creates a second report",
    )
    text: str = Field(min_length=1, max_length=1600, description="The report as the member gave it")
    occurred_at: datetime | None = None
    reporter: PartnerReporter | None = None
    location: PartnerLocation | None = None
    place_name: str | None = Field(None, min_length=1, max_length=200)
    category: str | None = Field(None, min_length=1, max_length=64, description="The partner's own category")


class PartnerReceipt(BaseModel):
    """The answer to a partner: the receipt reference, and whether this key was already accepted."""

    receipt: str
    status: Literal["accepted", "duplicate"]


@dataclass
class InboundEnvelope:
    """A provider-neutral inbound message: what the inbox stores (encrypted) and the worker reads back."""

    source: str  # twilio_sms, partner
    external_id: str
    channel: str  # sms, partner
    body: str
    sender_phone: str | None = None  # E.164 where it parses, else the raw address
    partner_id: int | None = None
    member_id: str | None = None
    language: str | None = None
    hints: dict[str, Any] = field(default_factory=dict)
    provider_fields: dict[str, str] = field(default_factory=dict)
    exercise: bool = False  # a drill; rows stored before drills existed read back as real
