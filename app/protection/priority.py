"""Incident priority P1-P4 from severity, protection zone, nearby sites, corroboration and verification (pure).

A points model, so that every level can be explained by the reasons that add up to it:

    severity (CAP)        extreme 4, severe 3, moderate 2, minor 1, unknown 1
    protection zone       must-protect +2, should-protect +1, could-protect 0
    vulnerable site       +1 when an IDP camp or a market is within SITE_NEAR_M (2 km) of the incident
    corroboration         +1 from CORROBORATING_REPORTERS (3) distinct reporters
    verification          +1 when confirmed (by a CLA); a severe or extreme alert also gets it while
                          unverified or pending, because it is never held back waiting for verification
                          (DESIGN, step 8): verification can only raise a lesser alert
    confirmed false       P4 whatever the rest

    score ≥ 6: P1    4-5: P2    3: P3    ≤ 2: P4

So an extreme attack anywhere scores at least 5 (P2); extreme or severe in a must-protect zone at least 6 (P1),
verified or not; extreme near an IDP camp 6 (P1); a moderate armed presence near an IDP camp in a must-protect
zone 5 (P2), 6 once confirmed (P1); a minor report from one unverified sender outside any zone 1 (P4).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

Level = Literal["P1", "P2", "P3", "P4"]
SEVERITY_POINTS: dict[str, int] = {"extreme": 4, "severe": 3, "moderate": 2, "minor": 1, "unknown": 1}
ZONE_POINTS: dict[str, int] = {"must": 2, "should": 1, "could": 0}
VERIFICATIONS: tuple[str, ...] = ("unverified", "pending", "confirmed", "false")
# Camps and markets are where one attack harms the most people; schools, clinics and places of worship are kept
# in the matrix for the map and the report but do not raise priority on their own.
CROWD_SITES: dict[str, str] = {"idp_camp": "IDP camp", "market": "market"}
CATEGORY_LABELS = {"attack_civilians": "attack on civilians", "armed_presence": "armed group presence"}
SITE_NEAR_M = 2_000.0
CORROBORATING_REPORTERS = 3
NOT_HELD_BACK = frozenset({"extreme", "severe"})
LEVELS: tuple[tuple[int, Level], ...] = ((6, "P1"), (4, "P2"), (3, "P3"))

NearbySite = tuple[str, float] | tuple[str, float, str | None]  # (kind, distance_m[, name])


@dataclass(frozen=True)
class Priority:
    """A priority level with its score and the short reasons that add up to it (no personal data)."""

    level: Level
    score: int
    reasons: tuple[str, ...]


def assess(
    severity: str,
    protection: str | None,
    sites: Iterable[NearbySite],
    reporter_count: int,
    verification: str,
    category: str | None,
    *,
    zone_name: str | None = None,
) -> Priority:
    """Score an incident by the points model above; ValueError on a severity, zone or verification it does not know."""
    _check(severity, protection, verification, reporter_count)
    if verification == "false":
        return Priority(level="P4", score=0, reasons=("confirmed false",))
    parts = [
        (SEVERITY_POINTS[severity], _severity_reason(severity, category)),
        _zone(protection, zone_name),
        _site(sites),
        _corroboration(reporter_count),
        _verification(severity, verification),
    ]
    score = sum(points for points, _ in parts)
    return Priority(level=level_of(score), score=score, reasons=tuple(reason for points, reason in parts if points))


def level_of(score: int) -> Level:
    """The level a score maps to."""
    return next((level for floor, level in LEVELS if score >= floor), "P4")


def _check(severity: str, protection: str | None, verification: str, reporter_count: int) -> None:
    if severity not in SEVERITY_POINTS:
        raise ValueError(f"severity {severity!r} is not one of {', '.join(SEVERITY_POINTS)}")
    if protection is not None and protection not in ZONE_POINTS:
        raise ValueError(f"protection {protection!r} is not one of {', '.join(ZONE_POINTS)} or None")
    if verification not in VERIFICATIONS:
        raise ValueError(f"verification {verification!r} is not one of {', '.join(VERIFICATIONS)}")
    if reporter_count < 0:
        raise ValueError(f"reporter_count must not be negative, got {reporter_count}")


def _severity_reason(severity: str, category: str | None) -> str:
    # The category only labels the reason: the severity already reflects what happened.
    if category is None or category == "other":
        return f"{severity} severity"
    return f"{severity} severity ({CATEGORY_LABELS.get(category, category.replace('_', ' '))})"


def _zone(protection: str | None, zone_name: str | None) -> tuple[int, str]:
    if protection is None:
        return 0, ""
    named = f" {zone_name!r}" if zone_name else ""
    return ZONE_POINTS[protection], f"{protection}-protect zone{named}"


def _site(sites: Iterable[NearbySite]) -> tuple[int, str]:
    """One point for the nearest camp or market within SITE_NEAR_M, however many there are."""
    near = [_unpack(site) for site in sites]
    near = [(distance, kind, name) for kind, distance, name in near if kind in CROWD_SITES and distance <= SITE_NEAR_M]
    if not near:
        return 0, ""
    distance, kind, name = min(near, key=lambda s: s[0])
    label = CROWD_SITES[kind] + (f" {name!r}" if name else "")
    if distance <= 0:
        return 1, f"inside {label}"
    return 1, f"{label} {max(distance / 1000, 0.1):.1f} km away"


def _unpack(site: Sequence) -> tuple[str, float, str | None]:
    kind, distance = site[0], float(site[1])
    return kind, distance, site[2] if len(site) > 2 else None


def _corroboration(reporter_count: int) -> tuple[int, str]:
    if reporter_count < CORROBORATING_REPORTERS:
        return 0, ""
    return 1, f"{reporter_count} independent reporters"


def _verification(severity: str, verification: str) -> tuple[int, str]:
    if verification == "confirmed":
        return 1, "confirmed by a CLA"
    if severity in NOT_HELD_BACK:
        return 1, f"{verification}, not held back: {severity} alert"
    return 0, ""
