"""The notification port: what the worker hands a channel, what it gets back, and status precedence."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

ChannelKind = Literal["sms", "voice", "webhook", "console"]
KINDS: frozenset[str] = frozenset({"sms", "voice", "webhook", "console"})
# Twilio refuses validity periods outside 1..36000 s (10 h, also its default).
MAX_VALIDITY_SECONDS = 36000
_E164 = re.compile(r"\+[1-9]\d{6,14}")


def is_e164(address: str) -> bool:
    """True when the address is shaped like an E.164 number (+, country code, up to 15 digits)."""
    return bool(_E164.fullmatch(address))


@dataclass(frozen=True)
class OutboundMessage:
    """One message to deliver through one channel; `idempotency_key` names the intent row that produced it."""

    idempotency_key: str
    kind: ChannelKind
    # E.164 number for sms/voice, URL for webhook. Kept out of repr so tracebacks and logs never show it.
    to: str = field(repr=False)
    text: str = field(repr=False)
    twiml: str | None = field(default=None, repr=False)
    status_callback: str | None = None
    validity_period_s: int | None = None
    payload: Mapping[str, Any] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown channel kind {self.kind!r}")
        if not self.idempotency_key:
            raise ValueError("an outbound message needs an idempotency key")
        if self.validity_period_s is not None and not 1 <= self.validity_period_s <= MAX_VALIDITY_SECONDS:
            raise ValueError(f"validity_period_s must be within 1..{MAX_VALIDITY_SECONDS}")


@dataclass(frozen=True)
class SendResult:
    """A channel's answer; `error_detail` is safe to log and store: never the recipient or the text."""

    accepted: bool
    provider_id: str | None
    status: str
    retryable: bool
    error_code: str | None = None
    error_detail: str = ""

    @classmethod
    def ok(cls, provider_id: str | None, status: str) -> SendResult:
        """The provider took the message; `status` is its first status (e.g. Twilio's queued)."""
        return cls(accepted=True, provider_id=provider_id, status=status, retryable=False)

    @classmethod
    def retry(cls, error_code: str, error_detail: str) -> SendResult:
        """A transient failure: the worker should try again on its schedule."""
        return cls(False, None, "retry", retryable=True, error_code=error_code, error_detail=error_detail)

    @classmethod
    def rejected(cls, error_code: str, error_detail: str) -> SendResult:
        """A permanent failure: sending the same message again cannot succeed."""
        return cls(False, None, "rejected", retryable=False, error_code=error_code, error_detail=error_detail)


@runtime_checkable
class Channel(Protocol):
    """Delivers OutboundMessages of one kind; never raises for provider or network failures."""

    kind: str

    def send(self, message: OutboundMessage) -> SendResult: ...


ProviderCopyKind = Literal["message", "call"]


@runtime_checkable
class ProviderCopies(Protocol):
    """The provider's own records of messages and calls (numbers, bodies): deleted once Kengele has its copy."""

    def delete(self, kind: ProviderCopyKind, sid: str) -> SendResult:
        """Delete one record: accepted when it is gone (or already was); never raises for provider failures."""
        ...


# Twilio message and call statuses by precedence. Both lifecycles share one scale: the names that appear in
# both (queued, failed, canceled) sit where each lifecycle needs them, and the worker only ever compares
# statuses of the same resource. Equal ranks never replace each other, so the first terminal status wins.
_RANKS: dict[str, int] = {
    "scheduled": 0,
    "accepted": 1,
    "queued": 2,
    "initiated": 3,
    "sending": 3,
    "ringing": 4,
    "sent": 4,
    "in-progress": 5,
    "delivered": 6,
    "undelivered": 6,
    "partially_delivered": 6,
    "failed": 6,
    "canceled": 6,
    "completed": 6,
    "busy": 6,
    "no-answer": 6,
    # Read receipts (WhatsApp, RCS) arrive after delivery.
    "read": 7,
}
TERMINAL_RANK = 6


def status_rank(status: str | None) -> int | None:
    """The precedence of a Twilio message or call status, or None for a status we do not know."""
    if status is None:
        return None
    return _RANKS.get(status.strip().lower())


def is_terminal(status: str | None) -> bool:
    """True once a message or call can change no more (except a later read receipt)."""
    rank = status_rank(status)
    return rank is not None and rank >= TERMINAL_RANK


def should_advance(current: str | None, new: str) -> bool:
    """True when a callback's `new` status moves `current` forward; callbacks arrive out of order."""
    new_rank = status_rank(new)
    if new_rank is None:
        return False
    current_rank = status_rank(current)
    return current_rank is None or new_rank > current_rank
