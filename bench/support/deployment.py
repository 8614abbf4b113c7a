"""A Kengele deployment for the benchmarks: production settings, and the demo region loaded as `kengele demo` does."""

from __future__ import annotations

import csv
import secrets
from pathlib import Path
from typing import Any

from app.core.config import Settings

REPO = Path(__file__).resolve().parents[2]
DEMO_DIR = REPO / "app" / "data" / "demo"
DEMO_UNITS = DEMO_DIR / "car_units_example.csv"
# Settings the bench passes to in-process code as well as to the servers (all plain strings).
SHARED_SETTINGS = ("mode", "database_url", "data_dir", "secret_key", "twilio_auth_token", "default_region")


def kengele_env(database_url: str, data_dir: Path, *, token: str, **settings: str) -> dict[str, str]:
    """KENGELE_ settings of a production deployment with fresh secrets; `settings` adds or overrides (lower case)."""
    env = {
        "KENGELE_MODE": "production",
        "KENGELE_DATABASE_URL": database_url,
        "KENGELE_DATA_DIR": str(data_dir),
        "KENGELE_SECRET_KEY": secrets.token_urlsafe(48),
        "KENGELE_TWILIO_AUTH_TOKEN": token,
        "KENGELE_LOG_LEVEL": "WARNING",
    }
    return env | {f"KENGELE_{key.upper()}": value for key, value in settings.items()}


def app_settings(env: dict[str, str]) -> Settings:
    """The Settings a server started with `env` has, for code the bench runs in its own process (same keys)."""
    values: dict[str, Any] = {
        name: env[f"KENGELE_{name.upper()}"] for name in SHARED_SETTINGS if f"KENGELE_{name.upper()}" in env
    }
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


DEMO_PARTS = ("places", "units", "roads", "zones", "clas")


def load_demo(settings: Settings, parts: tuple[str, ...] = DEMO_PARTS) -> dict[str, int]:
    """Load the demo region with the importers `kengele demo` uses (places, units, roads, zones, CLAs); counts."""
    from app.core.db import make_engine, make_sessionmaker, transaction
    from app.geo.importers import import_places_csv
    from app.protection.service import import_protection
    from app.routing.service import import_roads
    from app.security.crypto import Vault
    from app.security.keys import load_keys
    from app.units.service import import_units_csv
    from app.verification.cli import import_clas_csv

    vault, engine = Vault(load_keys(settings)), make_engine(settings)
    region, counts = settings.default_region, {}
    try:
        with transaction(make_sessionmaker(engine)) as session:
            if "places" in parts:
                places = import_places_csv(session=session, path=DEMO_DIR / "car_places.csv", country_code="CF")
                counts["places"] = places.imported + places.already_present
            if "units" in parts:
                units = import_units_csv(session=session, vault=vault, path=DEMO_UNITS, default_region=region)
                counts["units"] = units.imported + units.already_present
            if "roads" in parts:
                roads = import_roads(session=session, raw=(DEMO_DIR / "car_roads.geojson").read_bytes())
                counts["road_segments"] = len({segment.key for segment in roads.segments})
            if "zones" in parts:
                zones = import_protection(session=session, raw=(DEMO_DIR / "car_zones.geojson").read_bytes())
                counts["zones"] = len(zones.zones)
            if "clas" in parts:
                clas = import_clas_csv(session=session, vault=vault, path=DEMO_DIR / "car_clas_example.csv",
                                       default_region=region)  # fmt: skip
                counts["clas"] = clas.imported
    finally:
        engine.dispose()
    return counts


def demo_unit_numbers() -> set[str]:
    """The SMS numbers of the demo units (E.164 in the CSV): an SMS to one of them is an alert to a unit."""
    with DEMO_UNITS.open(encoding="utf-8", newline="") as handle:
        return {row["sms"].strip() for row in csv.DictReader(handle) if row.get("sms", "").strip()}
