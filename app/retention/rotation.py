"""Key rotation: every encrypted column re-encrypted under the newest key, in one transaction."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import InstrumentedAttribute, Session

from app.intake.models import InboundMessage
from app.partners.models import Partner
from app.reporters.models import Reporter
from app.security.crypto import Vault
from app.units.models import UnitContact

# (label, model, column): everything the vault has written.
ENCRYPTED: list[tuple[str, type, str]] = [
    ("reporter numbers", Reporter, "phone_encrypted"),
    ("raw messages", InboundMessage, "payload_encrypted"),
    ("unit contacts", UnitContact, "address_encrypted"),
    ("unit webhook secrets", UnitContact, "secret_encrypted"),
    ("partner signing secrets", Partner, "signing_secret_encrypted"),
]
BATCH = 1000


def reencrypt_all(*, session: Session, vault: Vault) -> dict[str, int]:
    """Rotate every stored value to the newest key; a value no configured key opens aborts the whole run."""
    counts: dict[str, int] = {}
    for label, model, name in ENCRYPTED:
        column: InstrumentedAttribute = getattr(model, name)
        done, last_id = 0, 0
        while True:
            rows = session.execute(
                select(model.id, column).where(model.id > last_id, column.is_not(None), column != "")
                .order_by(model.id).limit(BATCH)
            ).all()  # fmt: skip
            if not rows:
                break
            for row_id, token in rows:
                session.execute(model.__table__.update().where(model.__table__.c.id == row_id)
                                .values({name: vault.rotate(token)}))  # fmt: skip
            done += len(rows)
            last_id = rows[-1][0]
        counts[label] = done
    return counts
