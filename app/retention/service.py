"""Retention: purge the personal data of inactive reporters and old raw messages, keep anonymous incident history.

A purged reporter stays as an anonymous row (kind, trust record) so incidents still count their witnesses; the
number, its hashes, their home, and the words they sent are gone. Purged rows are rewritten, not deleted, so
every foreign key still holds.
"""

from __future__ import annotations

import secrets
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, String, and_, cast, func, literal, or_, select, text, update
from sqlalchemy.orm import Session

from app.abuse.models import OperatorWarning
from app.incidents.models import Report
from app.intake.models import InboundMessage
from app.notify.models import Notification
from app.reporters.models import Reporter
from app.retention.models import RetentionRun
from app.verification.models import CallbackTask, Cla

PURGED = "[purged]"
PURGED_PREFIX = "purged:"  # identity_hash of a purged reporter: unique, and derived from nothing
# Call-back SMS carry the caller's number to the CLA: once sent, the text is kept only this long.
CALLBACK_TEXT_DAYS = 1
BATCH = 500


@dataclass
class PurgeCounts:
    """What a purge removed (or, in a dry run, would remove)."""

    reporters: int = 0
    report_bodies: int = 0
    raw_messages: int = 0
    callback_texts: int = 0
    callback_notes: int = 0


@dataclass(frozen=True)
class Policy:
    """The retention periods: inactive reporters, raw inbox payloads."""

    reporter_days: int
    raw_message_days: int


def purge(
    *, session: Session, policy: Policy, now: datetime, dry_run: bool = False, trigger: str = "cli"
) -> PurgeCounts:
    """Purge (or count, in a dry run) everything past its retention period, and record the run."""
    if session.get_bind().dialect.name == "sqlite":
        # Overwritten and deleted cells are zeroed, not left in the page for anyone who reads the file.
        session.connection().exec_driver_sql("PRAGMA secure_delete=ON")
    run = RetentionRun(started_at=now, dry_run=dry_run, trigger=trigger, counts={})
    session.add(run)
    counts = PurgeCounts()
    reporter_ids = _inactive_reporters(session, now - timedelta(days=policy.reporter_days))
    counts.reporters = len(reporter_ids)
    raw_cutoff = now - timedelta(days=policy.raw_message_days)
    for chunk in _chunks(reporter_ids):
        counts.report_bodies += _count(session, Report, Report.reporter_id.in_(chunk), Report.body != PURGED)
        counts.callback_notes += _count(session, CallbackTask, CallbackTask.reporter_id.in_(chunk),
                                        CallbackTask.note.is_not(None))  # fmt: skip
        if not dry_run:
            _purge_reporters(session, chunk)
    counts.raw_messages = _count(session, InboundMessage, *_raw_due(raw_cutoff, reporter_ids))
    counts.callback_texts = _count(session, Notification, *_callback_texts_due(now, reporter_ids))
    if not dry_run:
        _purge_raw_messages(session, raw_cutoff, reporter_ids)
        due = _callback_texts_due(now, reporter_ids)
        session.execute(update(Notification).where(*due).values(text=PURGED, address_masked=PURGED)
                        .execution_options(synchronize_session=False))  # fmt: skip
    run.counts = asdict(counts)
    run.finished_at = now
    return counts


def _inactive_reporters(session: Session, cutoff: datetime) -> list[int]:
    """Reporters unseen since `cutoff` who still hold personal data; active CLAs are staff and are kept."""
    active_cla = select(Cla.reporter_id).where(Cla.active.is_(True))
    return list(session.scalars(
        select(Reporter.id).where(
            Reporter.last_seen_at < cutoff, ~Reporter.identity_hash.startswith(PURGED_PREFIX),
            Reporter.id.not_in(active_cla),
        ).order_by(Reporter.id)
    ))  # fmt: skip


def _purge_reporters(session: Session, ids: list[int]) -> None:
    """Forget who they were and what they wrote; keep that they reported, and their record."""
    for reporter_id in ids:
        session.execute(update(Reporter).where(Reporter.id == reporter_id).values(
            identity_hash=PURGED_PREFIX + secrets.token_hex(16), phone_encrypted=None, phone_masked=None,
            home_place=None, home_lat=None, home_lon=None,
        ))  # fmt: skip
    session.execute(update(Report).where(Report.reporter_id.in_(ids)).values(
        body=PURGED, text_digest=None, location_text=None, hints={},
    ).execution_options(synchronize_session=False))  # fmt: skip
    session.execute(update(CallbackTask).where(CallbackTask.reporter_id.in_(ids)).values(note=None)
                    .execution_options(synchronize_session=False))  # fmt: skip
    session.execute(update(Notification).where(Notification.reporter_id.in_(ids)).values(address_masked=PURGED)
                    .execution_options(synchronize_session=False))  # fmt: skip
    session.execute(update(OperatorWarning).where(OperatorWarning.reporter_id.in_(ids)).values(reporter_id=None)
                    .execution_options(synchronize_session=False))  # fmt: skip


def _raw_due(cutoff: datetime, reporter_ids: list[int]) -> tuple:
    """Inbox rows whose payload is past retention (processed long ago) or belongs to a purged reporter."""
    of_purged = InboundMessage.id.in_(select(Report.inbound_message_id).where(Report.reporter_id.in_(reporter_ids)))
    processed_long_ago = and_(InboundMessage.processed_at.is_not(None), InboundMessage.processed_at < cutoff)
    return InboundMessage.payload_encrypted != "", or_(processed_long_ago, of_purged)


def _purge_raw_messages(session: Session, cutoff: datetime, reporter_ids: list[int]) -> None:
    """Empty the encrypted payload and the sender hash; the row stays so a late provider retry is still a retry."""
    session.execute(update(InboundMessage).where(*_raw_due(cutoff, reporter_ids)).values(
        payload_encrypted="", sender_hash=None,
    ).execution_options(synchronize_session=False))  # fmt: skip


def _callback_texts_due(now: datetime, reporter_ids: list[int]) -> tuple:
    """Call-back SMS (they carry a caller's number) sent over a day ago, or about a purged caller."""
    task_key = literal("callback:").concat(cast(CallbackTask.id, String))
    of_purged = Notification.key.in_(select(task_key).where(CallbackTask.reporter_id.in_(reporter_ids)))
    cutoff = now - timedelta(days=CALLBACK_TEXT_DAYS)
    sent_long_ago = and_(Notification.state != "pending", Notification.created_at < cutoff)
    return Notification.purpose == "callback_task", Notification.text != PURGED, or_(sent_long_ago, of_purged)


def _count(session: Session, model: type, *conditions) -> int:
    return session.scalar(select(func.count()).select_from(model).where(*conditions)) or 0


def _chunks(ids: list[int]) -> list[list[int]]:
    return [ids[i : i + BATCH] for i in range(0, len(ids), BATCH)]


def last_run(session: Session) -> RetentionRun | None:
    """The latest real (not dry) purge."""
    return session.scalar(select(RetentionRun).where(RetentionRun.dry_run.is_(False))
                          .order_by(RetentionRun.started_at.desc()).limit(1))  # fmt: skip


def compact(engine: Engine) -> None:
    """Make purged values unrecoverable from the files: SQLite rebuilds itself, PostgreSQL vacuums the tables.

    SQLite: run it with the server and the workers stopped. Another process's open connections were seen reading
    stale pages after a rebuild, so only `kengele purge-pii --compact` calls it, never the running worker.
    """
    if engine.dialect.name == "sqlite":
        # The driver's own connection: the engine would wrap VACUUM in the BEGIN IMMEDIATE it gives every use.
        raw = engine.raw_connection()
        try:
            cursor = raw.cursor()
            cursor.execute("VACUUM")  # rewrites the file: no free page keeps an old value
            cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # and the log of old pages is emptied
            cursor.close()
        finally:
            raw.close()
        return
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        for table in ("reporter", "report", "inbound_message", "notification", "callback_task"):
            connection.execute(text(f"VACUUM {table}"))
