"""What an export may say about an incident, and the shared vocabularies (ACLED, CAP certainty) it is said in.

`IncidentRecord` is the only thing the builders see: it has no field for a phone number, a reporter, a message
body or a receipt, so no export can leak one however it is written.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from app.incidents.models import Incident

# Kengele's categories as ACLED event and sub-event types (codebook 2023/2024). ACLED codes what an armed actor
# did to whom: shots heard, people fleeing and "other" say neither, so they stay untyped rather than guessed.
ACLED: dict[str, tuple[str, str]] = {
    "attack_civilians": ("Violence against civilians", "Attack"),
    "abduction": ("Violence against civilians", "Abduction/forced disappearance"),
    "sexual_violence": ("Violence against civilians", "Sexual violence"),
    "armed_clash": ("Battles", "Armed clash"),
    "looting": ("Strategic developments", "Looting/property destruction"),
    "burning": ("Strategic developments", "Looting/property destruction"),
    "armed_presence": ("Strategic developments", "Change to group/activity"),
    "threat": ("Strategic developments", "Other"),
}
# This many distinct witnesses make an unverified alert likely rather than possible (as priority counts them).
CORROBORATING_REPORTERS = 3


@dataclass(frozen=True)
class IncidentRecord:
    """The public facts of one incident: what it is, where, when, how bad, how sure; never who said so."""

    ref: str
    status: str
    priority: str | None
    category: str
    severity: str
    verification: str
    lat: float | None
    lon: float | None
    precision_m: float | None
    ring_m: float | None
    place: str | None
    first_report_at: datetime
    last_report_at: datetime
    dead_min: int | None
    dead_max: int | None
    report_count: int
    reporter_count: int
    created_at: datetime
    merged_into: str | None = None
    exercise: bool = False  # a drill: CAP status Exercise, and flagged in every other export

    @classmethod
    def of(cls, incident: Incident, merged_into: str | None = None) -> IncidentRecord:
        """Copy the public columns of an incident."""
        return cls(
            ref=incident.ref, status=incident.status, priority=incident.priority, category=incident.category,
            severity=incident.severity, verification=incident.verification, lat=incident.lat, lon=incident.lon,
            precision_m=incident.precision_m, ring_m=incident.ring_m, place=incident.place,
            first_report_at=incident.first_report_at, last_report_at=incident.last_report_at,
            dead_min=incident.dead_min, dead_max=incident.dead_max, report_count=incident.report_count,
            reporter_count=incident.reporter_count, created_at=incident.created_at, merged_into=merged_into,
            exercise=incident.exercise,
        )  # fmt: skip


def acled_types(category: str) -> tuple[str | None, str | None]:
    """The ACLED event type and sub-event type for a Kengele category; (None, None) when ACLED has none."""
    return ACLED.get(category, (None, None))


def cap_certainty(verification: str, reporter_count: int) -> str:
    """CAP certainty from verification: confirmed is observed, corroborated is likely, a denial is unlikely."""
    if verification == "confirmed":
        return "Observed"
    if verification == "false":
        return "Unlikely"
    if verification == "unverified" and reporter_count >= CORROBORATING_REPORTERS:
        return "Likely"
    if verification in ("unverified", "pending"):
        return "Possible"
    return "Unknown"


def iso_utc(moment: datetime) -> str:
    """ISO 8601 (RFC 3339) in UTC to the second, with a Z."""
    return moment.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
