"""Units: import, contacts, position updates, and the candidates routing ranks."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from app.core.clock import utcnow
from app.geo.importers import ImportReport, RowError, iter_csv_rows
from app.reporters import service as reporter_service
from app.reporters.phones import mask, sender_key
from app.routing.ranking import MOBILITIES, UnitCandidate
from app.security.crypto import Vault
from app.units.importers import UnitRowError, parse_unit_row
from app.units.models import Unit, UnitContact, UnitStatus

REQUIRED_COLUMNS = ("name", "kind", "lat", "lon")
MASK_LENGTH = 64  # unit_contact.address_masked


def import_units_csv(
    *, session: Session, vault: Vault, path: Path, default_region: str, progress: Callable[[], None] = lambda: None
) -> ImportReport:
    """Create or update units by name from a CSV; a row's contacts replace the unit's; bad lines are reported."""
    report = ImportReport()
    for line, row in iter_csv_rows(path, REQUIRED_COLUMNS):
        progress()
        try:
            if None in row:
                raise RowError("more fields than the header")
            parsed = parse_unit_row(row, default_region)
        except (RowError, UnitRowError) as exc:
            report.reject(line, exc)
            continue
        unit = session.scalar(select(Unit).where(Unit.name == parsed.values["name"]))
        existed = unit is not None
        values = dict(parsed.values)
        if values["status"] is None and existed:
            del values["status"]
        elif values["status"] is None:
            values["status"] = UnitStatus.available
        unit = save_unit(session=session, unit=unit, values=values)
        set_contacts(session=session, vault=vault, unit=unit, contacts=parsed.contacts)
        report.already_present += existed
        report.imported += not existed
    return report


def save_unit(*, session: Session, unit: Unit | None, values: dict) -> Unit:
    """Create a unit or update one in place."""
    now = utcnow()
    if unit is None:
        unit = Unit(created_at=now, position_at=now, **values)
        session.add(unit)
    else:
        if unit.kind == "patrol" and values.get("kind") == "patrol":
            # A patrol's position comes from its POS reports: a re-imported list must not send it home.
            values = {k: v for k, v in values.items() if k not in ("lat", "lon", "place")}
        moved = (unit.lat, unit.lon) != (values.get("lat", unit.lat), values.get("lon", unit.lon))
        for key, value in values.items():
            setattr(unit, key, value)
        unit.position_at = now if moved else unit.position_at
    unit.updated_at = now
    session.flush()
    return unit


def set_contacts(
    *, session: Session, vault: Vault, unit: Unit, contacts: Iterable[tuple[str, str, str | None]]
) -> None:
    """Replace a unit's contacts; numbers are stored encrypted with a lookup hash, webhook secrets encrypted."""
    session.execute(delete(UnitContact).where(UnitContact.unit_id == unit.id))
    for channel, address, secret in contacts:
        is_phone = channel in ("sms", "voice")
        session.add(
            UnitContact(
                unit_id=unit.id, channel=channel, address_encrypted=vault.encrypt(address),
                address_masked=mask(address) if is_phone else _masked_url(address),
                lookup_hash=reporter_service.phone_identity(vault, address) if is_phone else None,
                secret_encrypted=vault.encrypt(secret) if secret else None, details={},
            )
        )  # fmt: skip
    session.flush()


def _masked_url(url: str) -> str:
    """The scheme and host only: user info, paths and queries can carry tokens."""
    parts = urlsplit(url)
    host = f"{parts.hostname or '?'}{f':{parts.port}' if parts.port else ''}"
    return f"{parts.scheme}://{host}/…"[:MASK_LENGTH]


def unit_by_phone(*, session: Session, vault: Vault, phone: str, default_region: str = "CF") -> Unit | None:
    """The unit one of whose SMS or voice numbers this is, however the number is written."""
    digest = reporter_service.phone_identity(vault, sender_key(phone, default_region))
    return session.scalar(
        select(Unit).join(UnitContact, UnitContact.unit_id == Unit.id).where(UnitContact.lookup_hash == digest).limit(1)
    )


def unit_by_identity(*, session: Session, identity_hash: str) -> Unit | None:
    """The unit whose number hashes to this reporter identity (a unit texting ACK or POS is also a sender)."""
    return session.scalar(
        select(Unit)
        .join(UnitContact, UnitContact.unit_id == Unit.id)
        .where(UnitContact.lookup_hash == identity_hash)
        .limit(1)
    )


def update_position(*, session: Session, unit: Unit, lat: float, lon: float, place: str | None = None) -> None:
    """Move a unit (a patrol reporting POS, or an operator)."""
    unit.lat, unit.lon, unit.place = lat, lon, place or unit.place
    unit.position_at = unit.updated_at = utcnow()


@dataclass(frozen=True)
class UnitPool:
    """Every unit as routing sees it, with the columns ranking filters on as arrays (one pass per report)."""

    units: tuple[UnitCandidate, ...]
    kind: np.ndarray
    available: np.ndarray
    lat: np.ndarray
    lon: np.ndarray
    own_speed_kmh: np.ndarray  # 0 where the unit has none
    mobility: np.ndarray  # index into app.routing.ranking.MOBILITIES

    @classmethod
    def of(cls, rows: list[tuple[str, UnitCandidate]]) -> UnitPool:
        units = tuple(u for _, u in rows)
        return cls(
            units,
            np.array([k for k, _ in rows], dtype=object),
            np.array([u.status == "available" for u in units], dtype=bool),
            np.array([u.lat for u in units], dtype=float),
            np.array([u.lon for u in units], dtype=float),
            np.array([u.speed_kmh or 0.0 for u in units], dtype=float),
            np.array([MOBILITIES.index(u.mobility) for u in units], dtype=int),
        )

    def select(self, kinds: Iterable[str] | None, *, available_only: bool = False) -> np.ndarray:
        """Indexes of the units of these kinds (and available, if asked)."""
        mask = self.available.copy() if available_only else np.ones(len(self.units), dtype=bool)
        if kinds is not None:
            mask &= np.isin(self.kind, list(kinds))
        return np.flatnonzero(mask)


class CandidateCache:
    """Every unit as routing sees it, kept per process and read again only when a unit changed."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._version: tuple | None = None
        self._pool = UnitPool.of([])

    def get(self, session: Session) -> UnitPool:
        """Every unit; one cheap query when nothing changed."""
        version = tuple(session.execute(select(func.count(Unit.id), func.max(Unit.updated_at))).one())
        with self._lock:
            if version != self._version:
                # Columns, not ORM objects: at 10,000 units building objects cost ten times the ranking itself.
                rows = session.execute(select(Unit.kind, Unit.id, Unit.name, Unit.lat, Unit.lon, Unit.mobility,
                                              Unit.speed_kmh, Unit.status).order_by(Unit.id))  # fmt: skip
                self._pool = UnitPool.of([(kind, UnitCandidate(*rest)) for kind, *rest in rows])
                self._version = version
            return self._pool

    def clear(self) -> None:
        """Forget the units (tests that change rows behind the ORM's back)."""
        with self._lock:
            self._version, self._pool = None, UnitPool.of([])


unit_cache = CandidateCache()


def candidates(*, session: Session, kinds: Iterable[str] | None = None) -> list[UnitCandidate]:
    """Every unit of these kinds as routing sees it (ranking itself keeps only the available ones)."""
    pool = unit_cache.get(session)
    return [pool.units[i] for i in pool.select(kinds)]


def contacts(*, session: Session, unit_ids: Iterable[int], channels: Iterable[str]) -> list[UnitContact]:
    """The units' contacts on these channels, in a stable order."""
    query = select(UnitContact).where(UnitContact.unit_id.in_(list(unit_ids)), UnitContact.channel.in_(list(channels)))
    return list(session.scalars(query.order_by(UnitContact.unit_id, UnitContact.id)))
