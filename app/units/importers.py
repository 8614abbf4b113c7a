"""Units from CSV: one row per unit with its contacts; bad rows are reported by line, never abort the file (pure)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from app.reporters.phones import to_e164
from app.units.models import Mobility, UnitKind, UnitStatus

# Words the mission's own lists use for the same kinds ("COB" is a company operating base).
KIND_ALIASES = {
    "base": UnitKind.company_base, "cob": UnitKind.company_base, "company": UnitKind.company_base,
    "tob": UnitKind.temporary_base, "temporary": UnitKind.temporary_base, "hq": UnitKind.sector_hq,
    "fpu": UnitKind.police, "ipo": UnitKind.police,
}  # fmt: skip
NAME_LENGTH = 100


class UnitRowError(ValueError):
    """A unit row that cannot be imported; the message says which column and why."""


@dataclass
class UnitRow:
    """A parsed unit row: the unit's values and its contacts as (channel, address, secret)."""

    values: dict[str, Any]
    contacts: list[tuple[str, str, str | None]] = field(default_factory=list)


def parse_unit_row(row: dict[str, Any], default_region: str) -> UnitRow:
    """Check and convert one CSV row; UnitRowError names the column at fault."""
    name = (row.get("name") or "").strip()
    if not name or len(name) > NAME_LENGTH:
        raise UnitRowError(f"name must be 1-{NAME_LENGTH} characters")
    values = {
        "name": name,
        "kind": parse_kind(row.get("kind") or ""),
        "sector": (row.get("sector") or "").strip()[:50] or None,
        "place": (row.get("place") or "").strip()[:200] or None,
        # A blank status keeps a known unit's current one (import_units_csv), and is "available" for a new one.
        "status": parse_choice(row["status"], UnitStatus, "status") if (row.get("status") or "").strip() else None,
        "capabilities": sorted({c.strip().lower() for c in (row.get("capabilities") or "").replace(";", ",").split(",")
                                if c.strip()}),
    }  # fmt: skip
    values["lat"], values["lon"] = parse_position(row.get("lat"), row.get("lon"))
    values["mobility"] = parse_choice(row.get("mobility") or Mobility.vehicle, Mobility, "mobility")
    values["speed_kmh"] = parse_speed(row.get("speed_kmh"))
    return UnitRow(values, parse_contacts(row, default_region))


def parse_kind(text: str) -> str:
    """A unit kind, accepting the mission's usual words ("COB", "TOB", "FPU")."""
    key = text.strip().lower().replace("-", "_").replace(" ", "_")
    if key in KIND_ALIASES:
        return KIND_ALIASES[key]
    return parse_choice(key, UnitKind, "kind")


def parse_choice(text: str, choices: type, column: str) -> str:
    """One of an enum's values, case-insensitive."""
    key = str(text).strip().lower()
    allowed = [c.value for c in choices]  # type: ignore[attr-defined]
    if key not in allowed:
        raise UnitRowError(f"{column} must be one of {', '.join(allowed)}")
    return key


def parse_position(lat_text: Any, lon_text: Any) -> tuple[float, float]:
    """Decimal degrees on the globe."""
    try:
        lat, lon = float(lat_text), float(lon_text)
    except (TypeError, ValueError):
        raise UnitRowError("lat and lon must be decimal degrees") from None
    if not (math.isfinite(lat) and math.isfinite(lon) and -90 <= lat <= 90 and -180 <= lon <= 180):
        raise UnitRowError("lat/lon off the globe")
    return lat, lon


def parse_speed(text: Any) -> float | None:
    """A speed in km/h, or None for the mobility's usual speed."""
    if text is None or not str(text).strip():
        return None
    try:
        speed = float(text)
    except ValueError:
        raise UnitRowError("speed_kmh must be a number") from None
    if not (math.isfinite(speed) and 0.5 <= speed <= 400):
        raise UnitRowError("speed_kmh must be between 0.5 and 400")
    return speed


def parse_contacts(row: dict[str, Any], default_region: str) -> list[tuple[str, str, str | None]]:
    """SMS and voice numbers (several separated by ';') and a webhook URL with its secret."""
    contacts: list[tuple[str, str, str | None]] = []
    for channel in ("sms", "voice"):
        for raw in (row.get(channel) or "").split(";"):
            if raw.strip():
                number = to_e164(raw, default_region)
                if number is None:
                    raise UnitRowError(f"{channel}: not a phone number")
                contacts.append((channel, number, None))
    url, secret = (row.get("webhook_url") or "").strip(), (row.get("webhook_secret") or "").strip()
    if url:
        try:
            parts = urlsplit(url)
        except ValueError:  # "https://[fd00::1/hook": a broken IPv6 host
            raise UnitRowError("webhook_url must be an http(s) URL") from None
        if parts.scheme not in ("https", "http") or not parts.netloc:
            raise UnitRowError("webhook_url must be an http(s) URL")
        if len(secret) < 16:
            raise UnitRowError("webhook_secret must be at least 16 characters")
        contacts.append(("webhook", url, secret))
    return contacts
