"""The stored protection matrix: import it, index it once per change, and prioritise incidents with it."""

from __future__ import annotations

import threading

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from app.core.clock import utcnow
from app.incidents.models import Incident
from app.protection import priority as priority_rules
from app.protection.models import ProtectionZone, VulnerableSite
from app.protection.zones import ProtectionImport, ProtectionIndex, Zone, ZoneImportError, load_protection
from app.protection.zones import VulnerableSite as Site

KEY_LENGTH = 100  # protection_zone.key, vulnerable_site.key


def import_protection(*, session: Session, raw: bytes | str) -> ProtectionImport:
    """Replace the stored zones and sites with a GeoJSON file's; ZoneImportError names a bad feature."""
    parsed = load_protection(raw)
    too_long = next((f.key for f in [*parsed.zones, *parsed.sites] if len(f.key) > KEY_LENGTH), None)
    if too_long is not None:
        raise ZoneImportError(f"feature id {too_long[:40]!r}…: ids are at most {KEY_LENGTH} characters")
    session.execute(delete(ProtectionZone))
    session.execute(delete(VulnerableSite))
    now = utcnow()
    session.add_all(
        ProtectionZone(key=z.key, name=z.name[:200], protection=z.protection, geometry=z.geometry, updated_at=now)
        for z in parsed.zones
    )
    session.add_all(VulnerableSite(key=s.key, name=s.name[:200], kind=s.kind, lat=s.lat, lon=s.lon, radius_m=s.radius_m,
                                   geometry=s.geometry, updated_at=now) for s in parsed.sites)  # fmt: skip
    session.flush()
    return parsed


class IndexCache:
    """One protection index per process, rebuilt when the stored matrix changes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._version: tuple | None = None
        self._index: ProtectionIndex | None = None

    def get(self, session: Session) -> ProtectionIndex:
        """The index of the stored zones and sites (empty when none are loaded)."""
        version = (
            *session.execute(select(func.count(ProtectionZone.id), func.max(ProtectionZone.updated_at))).one(),
            *session.execute(select(func.count(VulnerableSite.id), func.max(VulnerableSite.updated_at))).one(),
        )
        with self._lock:
            if version != self._version or self._index is None:
                zones = [Zone(z.key, z.name, z.protection, z.geometry)  # type: ignore[arg-type]
                         for z in session.scalars(select(ProtectionZone).order_by(ProtectionZone.id))]  # fmt: skip
                sites = [Site(s.key, s.name, s.kind, s.lat, s.lon, s.radius_m, s.geometry)
                         for s in session.scalars(select(VulnerableSite).order_by(VulnerableSite.id))]  # fmt: skip
                self._index, self._version = ProtectionIndex.build(zones, sites), version
            return self._index

    def clear(self) -> None:
        """Forget the index (tests)."""
        with self._lock:
            self._version, self._index = None, None


indexes = IndexCache()


def prioritise(*, session: Session, incident: Incident) -> tuple[str, tuple[str, ...]]:
    """The incident's priority (P1-P4) and why, from severity, zone, nearby sites, witnesses and verification."""
    zone, sites = None, []
    # A ring ("13 km from Bria") is known not to be at its centre: the zone and sites there say nothing about it.
    if incident.lat is not None and incident.lon is not None and incident.ring_m is None:
        index = indexes.get(session)
        zone = index.zone_for(incident.lat, incident.lon, incident.precision_m)
        sites = index.sites_near(incident.lat, incident.lon, priority_rules.SITE_NEAR_M)
    assessed = priority_rules.assess(
        severity=incident.severity, protection=zone.protection if zone else None, zone_name=zone.name if zone else None,
        sites=[(s.kind, d, s.name) for s, d in sites], reporter_count=incident.reporter_count,
        verification=incident.verification, category=incident.category,
    )  # fmt: skip
    return assessed.level, assessed.reasons
