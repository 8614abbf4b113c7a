"""Scale benchmark: time per report for understand + locate + cluster + route, by stored reports and by units.

    .venv/bin/python bench/scale.py --quick     # PostgreSQL, 10 thousand and 100 thousand stored reports, one round
    .venv/bin/python bench/scale.py             # PostgreSQL, 10 thousand and 1 million stored reports, two rounds
    .venv/bin/python bench/scale.py --sqlite    # the same on SQLite (history inserted with executemany)
    .venv/bin/python bench/scale.py --sizes 10000,1000000 --units 10,10000 --rounds 2 --reports 0 --seed 7 \\
        --postgres postgresql+psycopg://postgres@127.0.0.1:5432/postgres   # every option, with its default

For each history size, one fresh database gets the demo gazetteer, zones and CLAs, bench/route.py's synthetic
CAR-sized road network (4,861 segments), the smallest unit count of random responders (bench/route.py's mix of
vehicles, foot, boats, helicopters; each with an SMS number; imported with the `kengele import-units` importer),
that many stored reports (bench/support/history.py: 3 per incident over 2 years at gazetteer places, incidents
older than 3 days resolved; PostgreSQL INSERT … SELECT generate_series, SQLite executemany), and the same inbox of
real-event SMS (one per distinct place, stored as intake stores them). Each larger unit count is a copy of that
database with the extra units added. Then, in rounds (order reversed every other round, so drift on a shared
machine cancels out), the worker's path runs in this process over the inbox (bench/support/worker_path.py:
claim, report, every pipeline step, in batches of 50 as the worker does) and is rolled back, so every pass starts
from the same state; a 5-report warm-up pass runs first. ms per report = the pass's time / reports (median over
rounds). Ratios: 1M / 10k stored reports, 10,000 / 10 units; targets <= 1.5. Prints a table, then one JSON object
as its last line (also bench/results/scale.json and scale.png; with --sqlite scale_sqlite.json and .png).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import secrets
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import route
from sqlalchemy import create_engine, func, select, text
from support.databases import copy_of, fresh_database, postgres_problem
from support.deployment import app_settings, kengele_env, load_demo
from support.events import distinct_place_messages
from support.history import insert_history
from support.plots import plot_scale
from support.worker_path import app_environment, clear_caches, enqueue, process_inbox

BENCH_DIR = Path(__file__).resolve().parent
RESULTS_FILE = BENCH_DIR / "results" / "scale.json"
DEFAULT_PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
TARGET_RATIO = 1.5
WARMUP_REPORTS = 5
RESPONDER_KINDS = ("company_base", "temporary_base", "patrol", "police")
ROAD_SPACING_KM = 25.0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,1000000", help="stored reports, smallest first (default 10k,1M)")
    parser.add_argument("--units", default="10,10000", help="units, smallest first (default 10,10000)")
    parser.add_argument("--rounds", type=int, default=2, help="timed passes per configuration (default 2)")
    parser.add_argument("--reports", type=int, default=60, help="reports per pass (default 60; 0: all 153)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--sqlite", action="store_true", help="SQLite instead of PostgreSQL")
    parser.add_argument("--postgres", default=DEFAULT_PG_ADMIN_URL, help="PostgreSQL admin URL")
    parser.add_argument("--quick", action="store_true", help="100 thousand instead of 1 million, 30 reports, 1 round")
    args = parser.parse_args(argv)
    args.sizes = [int(size) for size in args.sizes.split(",") if size]
    args.units = [int(count) for count in args.units.split(",") if count]
    if args.quick:
        args.sizes = [size if size <= 100_000 else 100_000 for size in args.sizes]
        args.rounds, args.reports = 1, args.reports or 30
    if sorted(args.sizes) != args.sizes or sorted(args.units) != args.units or min(args.units) < 1:
        parser.error("--sizes and --units go smallest first, units at least 1")
    return args


@dataclass(frozen=True)
class Config:
    """One database to time: its stored reports, its units, and the settings that reach it."""

    stored_reports: int
    units: int
    env: dict[str, str]
    history_seconds: float


def roads_geojson(seed: int) -> bytes:
    """bench/route.py's synthetic road network as GeoJSON, for the `kengele import-roads` importer."""
    features = [
        {"type": "Feature", "properties": {"id": s.key, "name": s.name, "highway": s.road_class},
         "geometry": {"type": "LineString", "coordinates": [[lon, lat] for lat, lon in s.coords]}}
        for s in route.grid_segments(np.random.default_rng(seed), ROAD_SPACING_KM)
    ]  # fmt: skip
    return json.dumps({"type": "FeatureCollection", "features": features}).encode()


def unit_rows(first: int, count: int, seed: int) -> list[dict[str, str]]:
    """`count` random responders (bench/route.py's mix), numbered from `first`, as rows of an import-units CSV."""
    rows = []
    for offset, unit in enumerate(route.random_units(np.random.default_rng(seed + first), count)):
        k = first + offset
        rows.append({
            "name": f"Bench unit {k}", "kind": RESPONDER_KINDS[k % 4],
            "lat": f"{unit.lat:.5f}", "lon": f"{unit.lon:.5f}",
            "sector": "West" if unit.lon < 18.5 else "Centre" if unit.lon < 22.0 else "East", "place": "",
            "mobility": unit.mobility, "speed_kmh": str(unit.speed_kmh or ""), "capabilities": "",
            "status": "available", "sms": f"+23676{k:06d}", "voice": "",
        })  # fmt: skip
    return rows


def add_units(env: dict[str, str], first: int, count: int, seed: int) -> None:
    """Insert `count` responders in bulk: rows checked by the import-units row parser, contacts stored as
    `kengele import-units` stores them (encrypted, masked, with the lookup hash); executemany, not one by one."""
    from app.core.clock import utcnow
    from app.core.db import make_engine
    from app.reporters.phones import mask
    from app.reporters.service import phone_identity
    from app.security.crypto import Vault
    from app.security.keys import load_keys
    from app.units.importers import parse_unit_row
    from app.units.models import Unit, UnitContact

    settings = app_settings(env)
    vault, engine, now = Vault(load_keys(settings)), make_engine(settings), utcnow()
    try:
        with engine.begin() as connection:
            next_id = (connection.scalar(select(func.max(Unit.id))) or 0) + 1
            units, contacts = [], []
            for offset, row in enumerate(unit_rows(first, count, seed)):
                parsed = parse_unit_row(row, settings.default_region)
                unit_id = next_id + offset
                units.append({**parsed.values, "id": unit_id, "created_at": now, "position_at": now, "updated_at": now})
                contacts += [
                    {"unit_id": unit_id, "channel": channel, "address_encrypted": vault.encrypt(address),
                     "address_masked": mask(address), "lookup_hash": phone_identity(vault, address),
                     "secret_encrypted": None, "details": {}}
                    for channel, address, _secret in parsed.contacts
                ]  # fmt: skip
            connection.execute(Unit.__table__.insert(), units)
            connection.execute(UnitContact.__table__.insert(), contacts)
            if engine.dialect.name == "postgresql":  # explicit ids: move the sequence past them
                connection.execute(text("SELECT setval('unit_id_seq', (SELECT max(id) FROM unit))"))
    finally:
        engine.dispose()


def seed_base(url: str, size: int, args: argparse.Namespace, forms: list[dict[str, str]], workdir: Path) -> Config:
    """Gazetteer, zones, CLAs, roads, the fewest units, `size` stored reports and the inbox, in a fresh database."""
    from app.core.db import make_engine, make_sessionmaker, transaction
    from app.routing.service import import_roads

    env = kengele_env(url, workdir / f"data-{size}", token=secrets.token_hex(16))
    settings = app_settings(env)
    started = time.perf_counter()
    load_demo(settings, parts=("places", "zones", "clas"))
    engine = make_engine(settings)
    try:
        with transaction(make_sessionmaker(engine)) as session:
            import_roads(session=session, raw=roads_geojson(args.seed))
        add_units(env, 0, args.units[0], args.seed)
        print(f"- {size:,} stored reports: deployment loaded in {time.perf_counter() - started:.0f} s", flush=True)
        seconds = insert_history(engine, size, datetime.now(UTC), "resolved", seed=args.seed)
        print(f"- {size:,} stored reports: inserted in {seconds:.0f} s", flush=True)
    finally:
        engine.dispose()
    with app_environment(env):
        enqueue(settings, forms)
    return Config(size, args.units[0], env, round(seconds, 1))


@contextlib.contextmanager
def configurations(args: argparse.Namespace, forms: list[dict[str, str]], workdir: Path) -> Iterator[list[Config]]:
    """Every (stored reports, units) database, seeded; dropped afterwards."""
    kind = "sqlite" if args.sqlite else "postgres"
    configs: list[Config] = []
    with contextlib.ExitStack() as stack:
        for size in args.sizes:
            base_url = stack.enter_context(fresh_database(kind, args.postgres, workdir))
            base = seed_base(base_url, size, args, forms, workdir)
            configs.append(base)
            for count in args.units[1:]:
                started = time.perf_counter()
                url = stack.enter_context(copy_of(base_url, args.postgres, workdir))
                env = {**base.env, "KENGELE_DATABASE_URL": url}
                add_units(env, args.units[0], count - args.units[0], args.seed)
                analyze(url)
                print(f"- {size:,} stored reports, {count:,} units: copied and loaded in "
                      f"{time.perf_counter() - started:.0f} s", flush=True)  # fmt: skip
                configs.append(Config(size, count, env, base.history_seconds))
        yield configs


def analyze(url: str) -> None:
    """Fresh planner statistics after a bulk load (the units)."""
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.execute(text("ANALYZE"))
    finally:
        engine.dispose()


def time_config(config: Config, reports: int | None) -> dict[str, Any]:
    """One timed pass over the inbox (after a warm-up pass), rolled back."""
    settings = app_settings(config.env)
    with app_environment(config.env):
        clear_caches()
        process_inbox(settings, limit=WARMUP_REPORTS)
        timing = process_inbox(settings, limit=reports)
    return {
        "ms_per_report": timing.ms_per_report(),
        "ms_per_report_p50": statistics.median(timing.per_report_ms),
        "steps": timing.steps_per_report(),
        "reports": timing.reports,
    }


def measure(configs: list[Config], args: argparse.Namespace) -> list[dict[str, Any]]:
    """Rounds over every configuration (reversed every other round); per configuration the median round."""
    passes: dict[int, list[dict[str, Any]]] = {i: [] for i in range(len(configs))}
    for round_index in range(args.rounds):
        order = list(range(len(configs)))
        for i in order if round_index % 2 == 0 else order[::-1]:
            result = time_config(configs[i], args.reports or None)
            passes[i].append(result)
            config = configs[i]
            print(f"- round {round_index + 1}: {config.stored_reports:,} stored reports, {config.units:,} units: "
                  f"{result['ms_per_report']:.1f} ms per report", flush=True)  # fmt: skip
    runs = []
    for i, config in enumerate(configs):
        results = passes[i]
        middle = sorted(results, key=lambda r: r["ms_per_report"])[(len(results) - 1) // 2]
        runs.append({
            "stored_reports": config.stored_reports, "units": config.units,
            "ms_per_report": round(statistics.median(r["ms_per_report"] for r in results), 2),
            "ms_per_report_p50": round(middle["ms_per_report_p50"], 2),
            "ms_per_report_rounds": [round(r["ms_per_report"], 2) for r in results],
            "steps_ms_per_report": {name: round(value, 2) for name, value in middle["steps"].items()},
            "reports": middle["reports"], "history_insert_s": config.history_seconds,
        })  # fmt: skip
    return runs


def ratio(runs: list[dict[str, Any]], a: tuple[int, int], b: tuple[int, int]) -> float | None:
    """ms per report of configuration a / configuration b ((stored reports, units) each)."""
    found = {(run["stored_reports"], run["units"]): run["ms_per_report"] for run in runs}
    return round(found[a] / found[b], 3) if a in found and b in found and found[b] else None


def label(count: int) -> str:
    """10000 -> 10k, 1000000 -> 1m (for key names)."""
    return (
        f"{count // 1_000_000}m" if count % 1_000_000 == 0 else f"{count // 1000}k" if count % 1000 == 0 else str(count)
    )


def summary(runs: list[dict[str, Any]], args: argparse.Namespace) -> dict[str, Any]:
    """The flat JSON record: ms per report per configuration, the ratios and whether they meet the target."""
    small, large, few, many = args.sizes[0], args.sizes[-1], args.units[0], args.units[-1]
    record: dict[str, Any] = {}
    for run in runs:
        record[f"ms_per_report_{label(run['stored_reports'])}_reports_{run['units']}_units"] = run["ms_per_report"]
    sizes, units = f"{label(large)}_over_{label(small)}_reports", f"{many}_over_{few}_units"
    for count in args.units:
        record[f"ratio_{sizes}_at_{count}_units"] = ratio(runs, (large, count), (small, count))
    for size in args.sizes:
        record[f"ratio_{units}_at_{label(size)}_reports"] = ratio(runs, (size, many), (size, few))
    record["target_ratio"] = TARGET_RATIO
    ratios = [value for key, value in record.items() if key.startswith("ratio_")]
    record["meets_targets"] = all(value is not None and value <= TARGET_RATIO for value in ratios)
    record["database"] = "sqlite" if args.sqlite else "postgres"
    record["runs"] = runs
    record["settings"] = {
        "sizes": args.sizes, "units": args.units, "rounds": args.rounds, "reports": args.reports or "all",
        "seed": args.seed, "quick": args.quick, "road_spacing_km": ROAD_SPACING_KM, "warmup_reports": WARMUP_REPORTS,
    }  # fmt: skip
    record["machine"] = {
        "cpu_count": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
        "load_average_1m": round(os.getloadavg()[0], 2),
    }  # fmt: skip
    record["date"] = datetime.now(UTC).isoformat(timespec="seconds")
    return record


def print_table(runs: list[dict[str, Any]], record: dict[str, Any]) -> None:
    """A human-readable table of the configurations and ratios."""
    steps = sorted({step for run in runs for step in run["steps_ms_per_report"]})
    print(f"\n{'stored':>10} {'units':>7} {'ms/report':>10} " + " ".join(f"{s[:12]:>12}" for s in steps))
    for run in runs:
        cells = " ".join(f"{run['steps_ms_per_report'].get(step, 0):>12.2f}" for step in steps)
        print(f"{run['stored_reports']:>10,} {run['units']:>7,} {run['ms_per_report']:>10.2f} {cells}")
    for key, value in record.items():
        if key.startswith("ratio_"):
            verdict = "-" if value is None else "meets" if value <= TARGET_RATIO else "MISSES"
            print(f"{key}: {value} ({verdict} the <= {TARGET_RATIO} target)")
    print()


def exit_on_sigterm(signum: int, _frame: object) -> None:
    """Turn SIGTERM into SystemExit so `finally` blocks drop the databases and the temp dir."""
    sys.exit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    """Seed, time, report; the last line printed is the JSON record."""
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, exit_on_sigterm)
    if not args.sqlite and (problem := postgres_problem(args.postgres)):
        sys.exit(f"error: PostgreSQL not reachable ({problem}); use --sqlite")
    forms = [message.form() for message in distinct_place_messages()]
    with tempfile.TemporaryDirectory(prefix="kengele-scale-") as tmp, configurations(args, forms, Path(tmp)) as configs:
        runs = measure(configs, args)
    record = summary(runs, args)
    print_table(runs, record)
    results = RESULTS_FILE.with_stem("scale_sqlite") if args.sqlite else RESULTS_FILE  # both backends' figures kept
    results.parent.mkdir(parents=True, exist_ok=True)
    results.write_text(json.dumps(record, indent=2) + "\n")
    plot_scale(record, results.with_suffix(".png"))
    print(json.dumps(record))
    return 0


if __name__ == "__main__":
    sys.exit(main())
