"""`kengele purge-pii` (retention, with a dry run) and `kengele reencrypt` (key rotation)."""

from __future__ import annotations

from typing import Annotated

import typer

from app.core.cli_support import say
from app.core.clock import utcnow
from app.core.config import get_settings
from app.core.db import make_engine, make_sessionmaker, transaction
from app.retention import rotation, service


def register(cli: typer.Typer) -> None:
    """Add purge-pii and reencrypt to `cli`."""
    cli.command("purge-pii")(purge_pii)
    cli.command("reencrypt")(reencrypt)


def purge_pii(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Count what would be purged; change nothing")] = False,
    reporter_days: Annotated[int | None, typer.Option(min=0, help="Inactive reporters' data after N days")] = None,
    raw_days: Annotated[int | None, typer.Option(min=0, help="Raw inbox messages after N days")] = None,
    compact: Annotated[
        bool,
        typer.Option(
            "--compact",
            help="Then rebuild the SQLite file (stop the server and workers first) or vacuum the PostgreSQL tables",
        ),
    ] = False,
) -> None:
    """Purge personal data past its retention period (numbers, homes, texts, raw messages); incidents stay."""
    import app.core.models  # noqa: F401 - every table, so that foreign keys resolve outside the web app

    settings = get_settings()
    policy = service.Policy(
        reporter_days=settings.retention_reporter_days if reporter_days is None else reporter_days,
        raw_message_days=settings.retention_raw_message_days if raw_days is None else raw_days,
    )
    engine = make_engine(settings)
    try:
        with transaction(make_sessionmaker(engine)) as session:
            counts = service.purge(session=session, policy=policy, now=utcnow(), dry_run=dry_run, trigger="cli")
        if compact and not dry_run:
            service.compact(engine)
    finally:
        engine.dispose()
    verb = "would purge" if dry_run else "purged"
    say(f"{verb}: {counts.reporters} inactive reporters (after {policy.reporter_days} days), "
        f"{counts.report_bodies} report texts, {counts.raw_messages} raw messages (after {policy.raw_message_days} "
        f"days), {counts.callback_texts} call-back texts, {counts.callback_notes} call-back notes")  # fmt: skip


def reencrypt() -> None:
    """Re-encrypt every stored secret under the newest key of KENGELE_ENCRYPTION_KEYS (then drop the old key)."""
    import app.core.models  # noqa: F401
    from app.security.crypto import DecryptionError, Vault
    from app.security.keys import load_keys

    settings = get_settings()
    engine = make_engine(settings)
    try:
        with transaction(make_sessionmaker(engine)) as session:
            counts = rotation.reencrypt_all(session=session, vault=Vault(load_keys(settings)))
    except DecryptionError as exc:
        say(f"nothing changed: {exc} (keep the old key in KENGELE_ENCRYPTION_KEYS, after the new one)", "red")
        raise typer.Exit(2) from None
    finally:
        engine.dispose()
    say("re-encrypted under the newest key: " + ", ".join(f"{n} {what}" for what, n in counts.items()))
