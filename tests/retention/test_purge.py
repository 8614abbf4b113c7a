"""Retention: `kengele purge-pii` after the retention period leaves no recoverable phone number in the database,
keeps anonymous incident history, and its dry run only counts."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from sqlalchemy import create_engine, func, select, update
from sqlalchemy.orm import sessionmaker

from app.core.clock import utcnow
from app.core.db import Base, transaction
from app.incidents.models import Incident, Report
from app.intake.models import InboundMessage
from app.notify.models import Notification
from app.reporters.models import Reporter
from app.reporters.service import phone_identity
from app.retention import service, tasks
from app.retention.models import RetentionRun
from app.security.crypto import DecryptionError
from tests.conftest import SECRET_KEY, TWILIO_TOKEN
from tests.helpers import post_sms, register_reporter, sms_form
from tests.live_server import kengele_env, run_cli
from tests.verification.test_loop import CLA_PHONE, beep, cla  # noqa: F401 - the CLA on duty round Bria

INFORMANT = "+23672200301"  # texts an alert naming a third person's number
BEEPER = "+23672200302"  # beeps: the CLA is sent their number to call back
ACTIVE = "+23672200303"  # still reporting: kept
THIRD = "+23675551234"
GONE = (INFORMANT, BEEPER, THIRD)


def forms_of(number: str) -> list[str]:
    """The ways a number can be written down: E.164, digits only, national, and its last eight digits."""
    digits = number.lstrip("+")
    return [number, digits, "0" + digits[3:], digits[3:], digits[-8:]]


def every_value(factory) -> list[str]:
    """Every column of every row of every table, as text."""
    values = []
    with factory() as session:
        for table in Base.metadata.sorted_tables:
            for row in session.execute(select(table)).all():
                values.extend(str(v) for v in row if v is not None)
    return values


def decrypted_values(factory, vault) -> list[str]:
    """Every value the vault can still open."""
    opened = []
    with factory() as session:
        for table in Base.metadata.sorted_tables:
            for column in (c for c in table.columns if c.name.endswith("_encrypted")):
                for token in session.scalars(select(column).where(column.is_not(None), column != "")):
                    try:
                        opened.append(vault.decrypt(token))
                    except DecryptionError:
                        raise DecryptionError(f"{table.name}.{column.name}") from None
    return opened


def shift_into_the_past(factory, vault) -> None:
    """200 days pass for the informant and the beeper; 40 for every inbox row; 2 for the call-back SMS."""
    now = utcnow()
    gone = [phone_identity(vault, number) for number in (INFORMANT, BEEPER)]
    with transaction(factory) as session:
        session.execute(update(Reporter).where(Reporter.identity_hash.in_(gone))
                        .values(last_seen_at=now - timedelta(days=200)))  # fmt: skip
        session.execute(update(InboundMessage).values(processed_at=now - timedelta(days=40)))
        session.execute(update(Notification).values(created_at=now - timedelta(days=2)))


def purged_database(settings, factory, env: dict[str, str], tmp_path: Path):
    """Where the purge runs: on SQLite a copy of the test database (a rebuild by another process left this
    process's connections reading stale pages of the shared one: hence `--compact` wants the servers stopped);
    on PostgreSQL the test database itself. Returns (factory, environment, SQLite file or None)."""
    if not settings.is_sqlite:
        return factory, env, None
    copy = tmp_path / "purged.db"
    with sqlite3.connect(urlsplit(settings.database_url).path) as source, sqlite3.connect(copy) as target:
        source.backup(target)
    engine = create_engine(f"sqlite:///{copy}")
    return sessionmaker(engine, expire_on_commit=False), {**env, "KENGELE_DATABASE_URL": f"sqlite:///{copy}"}, copy


@pytest.fixture
def env(settings, tmp_path, factory):
    return kengele_env(database_url=settings.database_url, data_dir=str(tmp_path), secret_key=SECRET_KEY,
                       twilio_auth_token=TWILIO_TOKEN)  # fmt: skip


def test_purge_pii_leaves_no_recoverable_number_and_keeps_the_incidents(
    kengele,
    factory,
    vault,
    settings,
    env,
    tmp_path,
    cla,  # noqa: F811
):
    body = f"Attaque des hommes armés à Bria, 4 morts. Appelez mon frère {THIRD}"
    assert post_sms(kengele.client, sms_form(From=INFORMANT, Body=body)).status_code == 200
    register_reporter(factory, vault, BEEPER, home_lat=6.60, home_lon=22.00, home_place="Ndiba")
    assert beep(kengele.client, BEEPER).status_code == 200
    assert post_sms(kengele.client, sms_form(From=ACTIVE, Body="Attaque à Ndélé, 2 morts")).status_code == 200
    kengele.work()
    kengele.send()
    with factory() as session:
        gone = [phone_identity(vault, number) for number in (INFORMANT, BEEPER)]
        old_ciphertexts = list(
            session.scalars(select(Reporter.phone_encrypted).where(Reporter.identity_hash.in_(gone)))
        )
        old_ciphertexts += list(session.scalars(select(InboundMessage.payload_encrypted)))
        incidents_before = session.scalar(select(func.count()).select_from(Incident))
    assert any(BEEPER in v for v in every_value(factory)), "the call-back SMS holds the number before the purge"
    assert any(THIRD in v for v in every_value(factory)), "the report text holds the third number before"
    shift_into_the_past(factory, vault)
    factory, env, copy = purged_database(settings, factory, env, tmp_path)

    dry = run_cli(["purge-pii", "--dry-run"], env, tmp_path)
    assert dry.returncode == 0, dry.stderr
    assert "would purge: 2 inactive reporters" in dry.stderr and "3 raw messages" in dry.stderr
    assert "1 call-back texts" in dry.stderr
    assert any(THIRD in v for v in every_value(factory)), "a dry run changes nothing"

    done = run_cli(["purge-pii", "--compact"], env, tmp_path)
    assert done.returncode == 0, done.stderr
    assert "purged: 2 inactive reporters" in done.stderr, done.stderr

    values = every_value(factory)
    opened = decrypted_values(factory, vault)
    identities = [phone_identity(vault, number) for number in GONE]
    for number in GONE:
        for form in forms_of(number):
            assert not any(form in v for v in values), f"{form} still in a table"
            assert not any(form in v for v in opened), f"{form} still decrypts from a table"
    assert not any(h in v for h in identities for v in values), "no keyed hash still confirms a number"
    if copy is not None:
        factory.kw["bind"].dispose()
        raw = b"".join(p.read_bytes() for p in (copy, Path(f"{copy}-wal")) if p.exists())
        for number in GONE:
            for form in forms_of(number):
                assert form.encode() not in raw, f"{form} still in the database file"
        for token in old_ciphertexts:
            assert token.encode() not in raw, "an old ciphertext survives in the file's free pages"

    with factory() as session:
        assert session.scalar(select(func.count()).select_from(Incident)) == incidents_before
        texts = session.scalars(select(Report.body).order_by(Report.id)).all()
        assert texts.count(service.PURGED) == 2 and "Attaque à Ndélé, 2 morts" in texts
        active = session.scalar(select(Reporter).where(Reporter.identity_hash == phone_identity(vault, ACTIVE)))
        assert vault.decrypt(active.phone_encrypted) == ACTIVE, "an active reporter keeps their number"
        cla_hash = phone_identity(vault, CLA_PHONE)
        cla_reporter = session.scalar(select(Reporter).where(Reporter.identity_hash == cla_hash))
        assert cla_reporter is not None and cla_reporter.phone_encrypted, "an active CLA is staff, not purged"
        runs = session.scalars(select(RetentionRun).order_by(RetentionRun.id)).all()
    assert [(r.dry_run, r.counts["reporters"]) for r in runs] == [(True, 2), (False, 2)]


def test_the_worker_purges_on_schedule_and_not_more_often(kengele, factory):
    policy = service.Policy(reporter_days=180, raw_message_days=30)
    now = utcnow()
    assert tasks.purge_if_due(factory=factory, policy=policy, every=timedelta(hours=24), clock=lambda: now)
    assert not tasks.purge_if_due(factory=factory, policy=policy, every=timedelta(hours=24),
                                  clock=lambda: now + timedelta(hours=23))  # fmt: skip
    assert tasks.purge_if_due(factory=factory, policy=policy, every=timedelta(hours=24),
                              clock=lambda: now + timedelta(hours=25))  # fmt: skip


def test_reencrypt_moves_every_secret_to_the_new_key_and_refuses_without_the_old_one(
    kengele, factory, settings, env, tmp_path
):
    from cryptography.fernet import Fernet

    from app.security.crypto import Vault
    from app.security.keys import Keys

    post_sms(kengele.client, sms_form(From=INFORMANT, Body="Attaque à Bria"))
    kengele.work()
    old_key = vault_key(settings)
    new_key = Fernet.generate_key().decode()
    hash_key = "h" * 32
    without_old = {**env, "KENGELE_ENCRYPTION_KEYS": new_key, "KENGELE_HASH_KEY": hash_key}
    refused = run_cli(["reencrypt"], without_old, tmp_path)
    assert refused.returncode == 2 and "nothing changed" in refused.stderr

    rotated = run_cli(["reencrypt"], {**without_old, "KENGELE_ENCRYPTION_KEYS": f"{new_key},{old_key}"}, tmp_path)
    assert rotated.returncode == 0, rotated.stderr
    assert "1 reporter numbers" in rotated.stderr and "1 raw messages" in rotated.stderr, rotated.stderr
    # A pooled SQLite connection of this process can still hold the read snapshot it took before the CLI wrote.
    factory.kw["bind"].dispose()
    only_new = Vault(Keys(encryption_keys=(new_key.encode(),), hash_key=b"x", twilio_auth_token=None))
    opened = decrypted_values(factory, only_new)
    assert INFORMANT in opened
    with pytest.raises(DecryptionError):
        decrypted_values(factory, Vault(Keys(encryption_keys=(old_key.encode(),), hash_key=b"x",
                                             twilio_auth_token=None)))  # fmt: skip


def vault_key(settings) -> str:
    """The Fernet key the tests' master secret derives (what every value is encrypted under now)."""
    from app.security.keys import load_keys

    return load_keys(settings).encryption_keys[0].decode()
