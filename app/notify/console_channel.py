"""The embedded default's sink: outbound messages are logged (recipient masked) and kept for the demo."""

from __future__ import annotations

import logging
import threading
import uuid
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

from app.core.logging import redact_numbers
from app.notify.ports import OutboundMessage, SendResult, is_e164
from app.reporters.phones import mask

logger = logging.getLogger(__name__)
DEFAULT_KEEP = 200


@dataclass(frozen=True)
class ConsoleRecord:
    """One message as the console sink saw it; the recipient is already masked."""

    at: datetime
    idempotency_key: str
    kind: str
    recipient: str
    text: str
    provider_id: str


def masked_recipient(address: str) -> str:
    """A number with only its country code and last two digits; a URL with only its scheme and host."""
    if is_e164(address):
        return mask(address)
    parts = urlsplit(address)
    if parts.scheme in ("http", "https") and parts.hostname:
        return f"{parts.scheme}://{parts.hostname}/…"
    return "••••"


class ConsoleChannel:
    """Accepts every message of any kind, logs one line for it and keeps the last `keep` in memory."""

    kind = "console"

    def __init__(self, keep: int = DEFAULT_KEEP) -> None:
        self._records: deque[ConsoleRecord] = deque(maxlen=keep)
        self._lock = threading.Lock()

    def send(self, message: OutboundMessage) -> SendResult:
        """Log the message instead of sending it; outbound texts are Kengele's own templates, never a report."""
        record = ConsoleRecord(
            at=datetime.now(UTC),
            idempotency_key=message.idempotency_key,
            kind=message.kind,
            recipient=masked_recipient(message.to),
            text=message.text,
            provider_id=f"CN{uuid.uuid4().hex}",
        )
        with self._lock:
            self._records.append(record)
        # A call-back SMS carries the caller's number to the CLA: the log shows the text without it.
        logger.info("outbound %s %s to %s: %s", record.kind, record.idempotency_key, record.recipient,
                    redact_numbers(record.text))  # fmt: skip
        return SendResult.ok(record.provider_id, "delivered")

    def recent(self) -> list[ConsoleRecord]:
        """The kept messages, oldest first."""
        with self._lock:
            return list(self._records)

    def clear(self) -> None:
        """Forget the kept messages."""
        with self._lock:
            self._records.clear()

    def close(self) -> None:
        """Nothing to release; here so every channel can be closed alike."""
