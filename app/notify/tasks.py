"""Worker task: send due outbox rows at most once. Claim and mark in a transaction, send, record in the next."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from app.core.clock import utcnow
from app.core.db import transaction
from app.notify import service, twiml
from app.notify.models import Notification
from app.notify.ports import OutboundMessage, SendResult
from app.notify.registry import Channels
from app.reporters.models import Reporter
from app.security.crypto import Vault
from app.units.models import UnitContact

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SendSettings:
    """What sending needs from Settings."""

    public_base_url: str | None
    retry_seconds: list[int]
    max_attempts: int
    voice_language: str = "fr"
    voice_prompts_url: str | None = None  # recordings: {url}/{language}/{purpose}.mp3


SEND_BATCH = 20


def send_due(
    *, factory: sessionmaker[Session], vault: Vault, channels: Channels, config: SendSettings,
    batch_size: int = SEND_BATCH, clock: Callable[[], datetime] = utcnow, release_stale: bool = True,
) -> int:  # fmt: skip
    """Send up to `batch_size` due rows, one at a time; returns how many rows were attempted.

    One row per claim: a worker killed mid-send leaves only the message it was sending "sending" (in doubt,
    never re-sent), not a whole claimed batch of messages it had not even tried. Each transaction records the
    previous send and claims the next: on SQLite, where the outbox takes turns with the inbox worker for the one
    write lock, a message costs one turn instead of two.
    """
    attempted, sent = 0, None
    while True:
        with transaction(factory) as session:
            if sent is not None:
                _record(session, *sent, config=config, clock=clock)
            if attempted == 0 and release_stale:
                service.release_stale(session=session, now=clock())
            rows = service.claim_due(session=session, now=clock(), limit=1) if attempted < batch_size else []
            claimed = (rows[0].id, _message(session, vault, rows[0], config)) if rows else None
        if claimed is None:
            return attempted
        # Outside any transaction: a slow provider must not hold locks. A crash here leaves the row "sending", never
        # re-sent.
        row_id, message = claimed
        sent = (row_id, message if isinstance(message, SendResult) else channels.send(message))
        attempted += 1


def release_stale_sends(*, factory: sessionmaker[Session], clock: Callable[[], datetime] = utcnow) -> int:
    """Rows a dead worker left "sending" become "unknown" (never re-sent); returns how many."""
    with transaction(factory) as session:
        return service.release_stale(session=session, now=clock())


def _record(session: Session, row_id: int, result: SendResult, *, config: SendSettings,
            clock: Callable[[], datetime]) -> None:  # fmt: skip
    """Store what the channel said of the row it was handed."""
    row = session.get(Notification, row_id)
    assert row is not None
    service.record_result(
        row, result, now=clock(), retry_seconds=config.retry_seconds, max_attempts=config.max_attempts
    )
    _log(row, result)


def _message(session: Session, vault: Vault, row: Notification, config: SendSettings) -> OutboundMessage | SendResult:
    """What to hand the channel, or why nothing can be sent (the contact or the number is gone)."""
    address, secret = _address(session, vault, row)
    if address is None:
        return SendResult.rejected("no_address", "the contact or the reporter's number no longer exists")
    if secret is not None:
        _webhook_secrets[address] = secret
    voice = None
    if row.channel == "voice":
        # An alert call is acknowledged with 1; a CLA's confirmation call is answered 1, 2 or 3.
        action = "/twilio/voice/confirm" if row.purpose == "confirm" else "/twilio/voice/gather"
        voice = _prompt(row, _url(config, action) or "", config)
    return OutboundMessage(
        idempotency_key=row.key, kind=row.channel, to=address, text=row.text, twiml=voice,  # type: ignore[arg-type]
        status_callback=_url(config, "/twilio/status") if row.channel in ("sms", "voice") else None,
        validity_period_s=row.validity_s,
        payload={"key": row.key, "purpose": row.purpose, "text": row.text, "exercise": row.exercise}
        if row.channel == "webhook" else None,
    )  # fmt: skip


def _prompt(row: Notification, action_url: str, config: SendSettings) -> str:
    """The call's TwiML: spoken where Twilio speaks the language, else the recording of this prompt, else the
    deployment's language."""
    language = row.language or config.voice_language
    if language in twiml.TTS:
        return twiml.acknowledge_prompt(row.text, action_url, language)
    if config.voice_prompts_url:
        recording = f"{config.voice_prompts_url.rstrip('/')}/{language}/{row.purpose}.mp3"
        return twiml.acknowledge_prompt("", action_url, language, recording)
    return twiml.acknowledge_prompt(row.text, action_url, config.voice_language)


def _address(session: Session, vault: Vault, row: Notification) -> tuple[str | None, str | None]:
    """The decrypted address (and webhook secret) of the row's unit contact or reporter."""
    if row.contact_id is not None:
        contact = session.get(UnitContact, row.contact_id)
        if contact is None:
            return None, None
        secret = vault.decrypt(contact.secret_encrypted) if contact.secret_encrypted else None
        return vault.decrypt(contact.address_encrypted), secret
    reporter = session.get(Reporter, row.reporter_id) if row.reporter_id is not None else None
    if reporter is None or not reporter.phone_encrypted:
        return None, None
    return vault.decrypt(reporter.phone_encrypted), None


def _url(config: SendSettings, path: str) -> str | None:
    return f"{config.public_base_url.rstrip('/')}{path}" if config.public_base_url else None


# Webhook secrets are per unit; the channel asks for the one of the URL it is posting to.
_webhook_secrets: dict[str, str] = {}


def webhook_secret_for(url: str) -> str | None:
    """The signing secret of the unit webhook at this URL (the channel's secret lookup)."""
    return _webhook_secrets.get(url)


def _log(row: Notification, result: SendResult) -> None:
    # Masked address and ids only: never the number or the text.
    if result.accepted:
        logger.info("notification %s (%s %s to %s) accepted", row.id, row.purpose, row.channel, row.address_masked)
    else:
        logger.warning(
            "notification %s (%s %s to %s) %s: %s %s", row.id, row.purpose, row.channel, row.address_masked,
            row.state, result.error_code, result.error_detail,
        )  # fmt: skip
