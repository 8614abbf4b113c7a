"""Stored history for the scale benchmarks: N past reports (3 per incident, 2 years) at gazetteer places, in bulk.

PostgreSQL builds the rows server-side (INSERT … SELECT generate_series); SQLite gets the same rows from Python
through executemany. Shared by bench/cluster.py (--scale) and bench/scale.py.
"""

from __future__ import annotations

import hashlib
import random
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, func, inspect, select, text

HISTORY_SQL = (
    """INSERT INTO reporter (identity_hash, kind, created_at, last_seen_at)
    SELECT 'hist' || md5('reporter' || g), 'villager', :base, :base FROM generate_series(1, :reporters) g""",
    """INSERT INTO incident (ref, category, severity, status, verification, lat, lon, precision_m, place,
        first_report_at, last_report_at, report_count, reporter_count, confidence, created_at, updated_at)
    SELECT 'H-' || g, (ARRAY['attack_civilians', 'armed_clash', 'armed_presence', 'looting', 'burning',
        'gunfire', 'abduction', 'displacement', 'threat'])[1 + g % 9], 'severe',
        CASE WHEN t < CAST(:base AS timestamptz) - interval '3 days' THEN :old_status ELSE 'open' END, 'unverified',
        p.lat + (random() - 0.5) * 0.2, p.lon + (random() - 0.5) * 0.2, 3000, p.name, t, t + interval '80 minutes',
        3, 3, 0.5, t, t + interval '80 minutes'
    FROM (SELECT g, CAST(:base AS timestamptz) - random() * interval '730 days' AS t
          FROM generate_series(0, :incidents - 1) g) s
    JOIN (SELECT row_number() OVER (ORDER BY id) - 1 AS k, name, lat, lon FROM place) p
      ON p.k = s.g % (SELECT count(*) FROM place)""",
    """INSERT INTO inbound_message (source, external_id, payload_encrypted, payload_digest, receipt_ref, received_at,
        spooled, attempts, next_attempt_at, processed_at)
    SELECT 'twilio_sms', 'SMhist' || g, 'history', md5('payload' || g), 'H' || g, t, false, 0, t, t
    FROM (SELECT g, i.first_report_at + ((g / :incidents) % 3) * interval '40 minutes' AS t
          FROM generate_series(0, :reports - 1) g JOIN incident i ON i.ref = 'H-' || (g % :incidents)) s""",
    """INSERT INTO report (inbound_message_id, reporter_id, channel, receipt_ref, body, hints, received_at,
        created_at, language, category, severity, details, understood_at, lat, lon, precision_m, location_method,
        location_confidence, incident_id, text_digest)
    SELECT m.id, (SELECT min(id) FROM reporter WHERE identity_hash LIKE 'hist%') + m.g % :reporters, 'sms',
        m.receipt_ref, 'historique ' || m.g, '{}', m.received_at, m.received_at, 'fr', i.category, i.severity,
        '{}', m.received_at, i.lat + (random() - 0.5) * 0.05, i.lon + (random() - 0.5) * 0.05, 3000,
        'gazetteer', 0.8, i.id, md5('text' || m.g)
    FROM (SELECT CAST(substr(external_id, 7) AS bigint) AS g, id, receipt_ref, received_at
          FROM inbound_message WHERE external_id LIKE 'SMhist%') m
    JOIN incident i ON i.ref = 'H-' || (m.g % :incidents)""",
)
CATEGORIES = (
    "attack_civilians", "armed_clash", "armed_presence", "looting", "burning", "gunfire", "abduction", "displacement",
    "threat",
)  # fmt: skip
HISTORY_FILLED = {
    "reporter": {"identity_hash", "kind", "created_at", "last_seen_at"},
    "incident": {
        "ref",
        "category",
        "severity",
        "status",
        "verification",
        "first_report_at",
        "last_report_at",
        "report_count",
        "reporter_count",
        "confidence",
        "created_at",
        "updated_at",
    },
    "inbound_message": {
        "source",
        "external_id",
        "payload_encrypted",
        "payload_digest",
        "receipt_ref",
        "received_at",
        "spooled",
        "attempts",
        "next_attempt_at",
    },
    "report": {"inbound_message_id", "channel", "receipt_ref", "body", "hints", "received_at", "created_at", "details"},
}
SQLITE_CHUNK = 20_000  # rows per executemany: bounded memory, few round trips
HISTORY_DAYS = 730
OPEN_DAYS = 3


def unfilled_columns(engine: Engine) -> list[str]:
    """Required columns (NOT NULL, no default) the history rows do not fill: the schema moved on."""
    inspector = inspect(engine)
    missing = []
    for table, filled in HISTORY_FILLED.items():
        for column in inspector.get_columns(table):
            required = not column["nullable"] and column.get("default") is None and column["name"] != "id"
            if required and column["name"] not in filled:
                missing.append(f"{table}.{column['name']}")
    return missing


def insert_history(engine: Engine, reports: int, base: datetime, old_status: str, seed: int = 7) -> float:
    """Bulk-insert `reports` historical reports (3 per incident) over the 2 years before `base`; return seconds."""
    missing = unfilled_columns(engine)
    if missing:
        raise RuntimeError(f"history rows do not fill required columns: {', '.join(missing)}")
    sizes = {"reports": reports, "incidents": max(1, reports // 3), "reporters": max(1, reports // 20)}
    started = time.perf_counter()
    if engine.dialect.name == "postgresql":
        with engine.begin() as connection:
            for statement in HISTORY_SQL:
                connection.execute(text(statement), {**sizes, "base": base, "old_status": old_status})
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("VACUUM ANALYZE"))
    else:
        _insert_sqlite(engine, sizes, base, old_status, random.Random(seed))
        with engine.connect() as connection:
            connection.execute(text("ANALYZE"))
    return time.perf_counter() - started


def _md5(value: str) -> str:
    return hashlib.md5(value.encode(), usedforsecurity=False).hexdigest()


def _insert_sqlite(engine: Engine, sizes: dict[str, int], base: datetime, old_status: str, rng: random.Random) -> None:
    """The rows HISTORY_SQL builds on PostgreSQL, built here and inserted with executemany (through SQLAlchemy's
    own column types, so that times are stored exactly as the app stores them)."""
    from app.core.db import Base as Metadata
    from app.core.models import Base  # noqa: F401 - registers every table on the metadata

    tables = Metadata.metadata.tables
    with engine.begin() as connection:
        places = connection.execute(text("SELECT name, lat, lon FROM place ORDER BY id")).all()
        if not places:
            raise RuntimeError("history needs a gazetteer: import places first")
        first = {
            name: (connection.scalar(select(func.max(tables[name].c.id))) or 0) + 1
            for name in ("reporter", "incident", "inbound_message", "report")
        }
        reporters, incidents = sizes["reporters"], sizes["incidents"]
        _bulk(connection, tables["reporter"], (
            {"id": first["reporter"] + g, "identity_hash": "hist" + _md5(f"reporter{g + 1}"), "kind": "villager",
             "created_at": base, "last_seen_at": base}
            for g in range(reporters)
        ))  # fmt: skip
        facts = [_incident(g, places[g % len(places)], base, old_status, rng) for g in range(incidents)]
        _bulk(connection, tables["incident"], ({"id": first["incident"] + g, **row} for g, row in enumerate(facts)))
        _bulk(connection, tables["inbound_message"], (
            {"id": first["inbound_message"] + g, "source": "twilio_sms", "external_id": f"SMhist{g}",
             "payload_encrypted": "history", "payload_digest": _md5(f"payload{g}"), "receipt_ref": f"H{g}",
             "received_at": _at(facts[g % incidents], g, incidents), "spooled": False, "attempts": 0,
             "next_attempt_at": _at(facts[g % incidents], g, incidents),
             "processed_at": _at(facts[g % incidents], g, incidents)}
            for g in range(sizes["reports"])
        ))  # fmt: skip
        _bulk(connection, tables["report"], (
            _report(g, first, facts[g % incidents], first["incident"] + g % incidents, reporters, incidents, rng)
            for g in range(sizes["reports"])
        ))  # fmt: skip


def _incident(g: int, place: Any, base: datetime, old_status: str, rng: random.Random) -> dict[str, Any]:
    t = base - timedelta(days=HISTORY_DAYS * rng.random())
    return {
        "ref": f"H-{g}", "category": CATEGORIES[g % len(CATEGORIES)], "severity": "severe",
        "status": old_status if t < base - timedelta(days=OPEN_DAYS) else "open", "verification": "unverified",
        "lat": place.lat + (rng.random() - 0.5) * 0.2, "lon": place.lon + (rng.random() - 0.5) * 0.2,
        "precision_m": 3000.0, "place": place.name, "first_report_at": t, "last_report_at": t + timedelta(minutes=80),
        "report_count": 3, "reporter_count": 3, "confidence": 0.5, "created_at": t,
        "updated_at": t + timedelta(minutes=80), "priority_reasons": [],
    }  # fmt: skip


def _at(incident: dict[str, Any], g: int, incidents: int) -> datetime:
    return incident["first_report_at"] + timedelta(minutes=40 * ((g // incidents) % 3))


def _report(
    g: int, first: dict[str, int], incident: dict[str, Any], incident_id: int, reporters: int, incidents: int,
    rng: random.Random,
) -> dict[str, Any]:  # fmt: skip
    at = _at(incident, g, incidents)
    return {
        "id": first["report"] + g, "inbound_message_id": first["inbound_message"] + g,
        "reporter_id": first["reporter"] + g % reporters, "channel": "sms", "receipt_ref": f"H{g}",
        "body": f"historique {g}", "hints": {}, "received_at": at, "created_at": at, "language": "fr",
        "category": incident["category"], "severity": incident["severity"], "details": {}, "understood_at": at,
        "lat": incident["lat"] + (rng.random() - 0.5) * 0.05, "lon": incident["lon"] + (rng.random() - 0.5) * 0.05,
        "precision_m": 3000.0, "location_method": "gazetteer", "location_confidence": 0.8, "incident_id": incident_id,
        "text_digest": _md5(f"text{g}"),
    }  # fmt: skip


def _bulk(connection: Any, table: Any, rows: Iterator[dict[str, Any]]) -> None:
    """executemany in chunks."""
    chunk: list[dict[str, Any]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= SQLITE_CHUNK:
            connection.execute(table.insert(), chunk)
            chunk = []
    if chunk:
        connection.execute(table.insert(), chunk)
