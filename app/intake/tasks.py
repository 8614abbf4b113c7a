"""Worker task: turn due inbox rows into reports, by id, each in its own savepoint."""

from __future__ import annotations

import json
import logging

from sqlalchemy.orm import Session, sessionmaker

from app.core import metrics
from app.core.clock import utcnow
from app.core.db import hold_loaded_objects, transaction
from app.feed import events as feed_events
from app.incidents import pipeline
from app.incidents import service as report_service
from app.intake import service as inbox_service
from app.intake.models import InboundMessage
from app.intake.schemas import InboundEnvelope
from app.reporters import service as reporter_service
from app.reporters.models import ReporterKind
from app.security.crypto import Vault
from app.understanding.text import tokenize

logger = logging.getLogger(__name__)


def process_inbound(*, session: Session, vault: Vault, row: InboundMessage) -> int:
    """Decrypt one inbox row, register its reporter, create its report and run the pipeline; returns the report id."""
    envelope = InboundEnvelope(**json.loads(vault.decrypt(row.payload_encrypted)))
    reporter_id = None
    if envelope.sender_phone:
        reporter_id = reporter_service.get_or_create(
            session=session,
            vault=vault,
            identity_hash=reporter_service.phone_identity(vault, envelope.sender_phone),
            phone=envelope.sender_phone,
            kind=ReporterKind.partner_member if envelope.partner_id else ReporterKind.villager,
            language=envelope.language,
            partner_id=envelope.partner_id,
        ).id
    elif envelope.partner_id is not None and envelope.member_id:
        reporter_id = reporter_service.get_or_create(
            session=session,
            vault=vault,
            identity_hash=reporter_service.member_identity(vault, envelope.partner_id, envelope.member_id),
            phone=None,
            kind=ReporterKind.partner_member,
            language=envelope.language,
            partner_id=envelope.partner_id,
        ).id
    report = report_service.create_report(
        session=session,
        inbound=row,
        envelope=envelope,
        reporter_id=reporter_id,
        # Same words whatever the case, accents, spacing or punctuation: "Attaque à Bria!" = "attaque a bria".
        text_digest=vault.lookup_hash(" ".join(t.text for t in tokenize(envelope.body)), purpose="text"),
    )
    session.info["vault"] = vault  # for pipeline steps that must read or write personal data
    pipeline.run(session, report)
    return report.id


def process_due(*, factory: sessionmaker[Session], vault: Vault, batch_size: int, retry_schedule: list[int]) -> int:
    """Process one batch of due inbox rows; a failing row is rolled back alone and retried later."""
    now = utcnow()
    with transaction(factory) as session:
        hold_loaded_objects(session)
        rows = inbox_service.claim_due(session=session, now=now, limit=batch_size)
        for row in rows:
            mark = feed_events.checkpoint(session)
            try:
                with session.begin_nested():
                    report_id = process_inbound(session=session, vault=vault, row=row)
                    inbox_service.mark_processed(row, now=utcnow())
            except Exception as exc:  # one bad row must not stop the others
                feed_events.discard_since(session, mark)
                error = type(exc).__name__
                # The exception text may quote the message; log its class only.
                logger.error("inbox row %s failed (%s); will retry", row.id, error)
                inbox_service.schedule_retry(row, error=error, now=utcnow(), schedule=retry_schedule)
                metrics.INBOX_FAILED.inc()
            else:
                logger.info("inbox row %s became report %s", row.id, report_id)
                metrics.INBOX_PROCESSED.inc()
    return len(rows)
