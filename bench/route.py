"""Routing benchmark: time rank_units on a synthetic CAR-sized road graph against the straight-line ranking.

Usage (from the repo root):

    .venv/bin/python bench/route.py
    .venv/bin/python bench/route.py --seed 7 --targets 20 --warmup 3 --units 10,1000,10000 --spacing-km 25

The graph is a jittered grid over CAR's bounding box (lat 2.2-11.0, lon 14.4-27.5) with roads every
`--spacing-km`, mixed classes (primary, secondary, tertiary, diagonal tracks, a few paths) and ~2 % of links
missing, built with the default 1 km edge split. Units are random available units over the same box: 55 %
vehicles (a third of them with their own 30 km/h cap), 30 % on foot, 10 % boats, 5 % helicopters. For each
unit count, every timed call ranks all units for one random target (after `--warmup` untimed calls); the
same targets and units are then ranked with no graph (great circle × detour) as the baseline. A last run
closes 1 % of the segments. Prints a table, then the figures as one JSON object on its last line, and writes
that object to bench/results/route.json. Times are milliseconds.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from support.plots import plot_route

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from app.routing.graph import RoadGraph  # noqa: E402
from app.routing.ranking import UnitCandidate, rank_units  # noqa: E402
from app.routing.roads import CLASS_SPEED_KMH, RoadSegment  # noqa: E402

LAT_RANGE = (2.2, 11.0)
LON_RANGE = (14.4, 27.5)
KM_PER_DEG = 111.2
RESULTS = REPO / "bench" / "results" / "route.json"
TARGET_MS = 50.0
CLOSED_SHARE = 0.01
MISSING_LINKS = 0.02
DIAGONAL_SHARE = 0.15
POINTS_PER_LINK = 4  # jittered vertices inside each grid link; the graph build splits the rest to 1 km


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--targets", type=int, default=20, help="timed calls per unit count")
    parser.add_argument("--warmup", type=int, default=3, help="untimed calls before timing")
    parser.add_argument("--units", default="10,1000,10000", help="comma-separated unit counts")
    parser.add_argument("--spacing-km", type=float, default=25.0, help="distance between grid roads")
    parser.add_argument("--out", type=Path, default=RESULTS)
    return parser.parse_args(argv)


def grid_segments(rng: np.random.Generator, spacing_km: float) -> list[RoadSegment]:
    """A jittered road grid with diagonal tracks; classes by line index, a few links missing."""
    lats = np.arange(LAT_RANGE[0], LAT_RANGE[1] + 1e-9, spacing_km / KM_PER_DEG)
    lons = np.arange(LON_RANGE[0], LON_RANGE[1] + 1e-9, spacing_km / KM_PER_DEG)
    jitter = spacing_km / KM_PER_DEG * 0.25
    nodes = np.stack(np.meshgrid(lats, lons, indexing="ij"), axis=-1)
    nodes += rng.uniform(-jitter, jitter, nodes.shape)
    segments: list[RoadSegment] = []
    for i in range(len(lats)):
        for j in range(len(lons)):
            for di, dj, kind in ((0, 1, "row"), (1, 0, "col"), (1, 1, "diag")):
                if i + di >= len(lats) or j + dj >= len(lons):
                    continue
                if kind == "diag" and rng.random() > DIAGONAL_SHARE:
                    continue
                if rng.random() < MISSING_LINKS:
                    continue
                road_class = _road_class(rng, kind, i if kind == "row" else j)
                line = _wiggle(rng, nodes[i, j], nodes[i + di, j + dj], jitter * 0.2)
                segments.append(
                    RoadSegment(
                        key=f"{kind}-{i}-{j}",
                        name=f"{road_class[0].upper()}{i if kind == 'row' else j}",
                        road_class=road_class,
                        speed_kmh=CLASS_SPEED_KMH[road_class],
                        coords=line,
                    )
                )
    return segments


def _road_class(rng: np.random.Generator, kind: str, line: int) -> str:
    if kind == "diag":
        return "track"
    if rng.random() < 0.03:
        return "path"
    return "primary" if line % 6 == 0 else "secondary" if line % 3 == 0 else "tertiary"


def _wiggle(rng: np.random.Generator, a: np.ndarray, b: np.ndarray, amount: float) -> tuple[tuple[float, float], ...]:
    frac = np.linspace(0, 1, POINTS_PER_LINK + 2)[:, None]
    points = a + (b - a) * frac
    points[1:-1] += rng.uniform(-amount, amount, (POINTS_PER_LINK, 2))
    return tuple((float(lat), float(lon)) for lat, lon in points)


def random_units(rng: np.random.Generator, count: int) -> list[UnitCandidate]:
    """Available units spread over the box with the documented mobility mix."""
    lat = rng.uniform(*LAT_RANGE, count)
    lon = rng.uniform(*LON_RANGE, count)
    kinds = rng.choice(["vehicle", "foot", "boat", "helicopter"], size=count, p=[0.55, 0.30, 0.10, 0.05])
    capped = rng.random(count) < 1 / 3
    return [
        UnitCandidate(
            unit_id=k,
            name=f"unit {k}",
            lat=float(lat[k]),
            lon=float(lon[k]),
            mobility=str(kinds[k]),
            speed_kmh=30.0 if kinds[k] == "vehicle" and capped[k] else None,
            status="available",
        )
        for k in range(count)
    ]


def time_calls(call: Callable[[float, float], Any], targets: list[tuple[float, float]], warmup: int) -> list[float]:
    """Milliseconds per call, one call per target, after `warmup` untimed calls."""
    for lat, lon in targets[:warmup]:
        call(lat, lon)
    times = []
    for lat, lon in targets:
        start = time.perf_counter()
        call(lat, lon)
        times.append((time.perf_counter() - start) * 1000)
    return times


def nearest_rank(values: list[float], pct: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(pct / 100 * len(ordered)) - 1)]


def measure(graph: RoadGraph, rng: np.random.Generator, args: argparse.Namespace) -> dict[str, Any]:
    """Timings per unit count, the straight-line baseline, and one run with closures."""
    out: dict[str, Any] = {}
    targets = [(float(rng.uniform(*LAT_RANGE)), float(rng.uniform(*LON_RANGE))) for _ in range(args.targets)]
    counts = [int(c) for c in args.units.split(",")]
    for count in counts:
        units = random_units(rng, count)
        road = time_calls(lambda lat, lon, units=units: rank_units(lat, lon, units, graph), targets, args.warmup)
        straight = time_calls(lambda lat, lon, units=units: rank_units(lat, lon, units, None), targets, args.warmup)
        out[f"rank_ms_median_{count}_units"] = round(statistics.median(road), 3)
        out[f"rank_ms_p95_{count}_units"] = round(nearest_rank(road, 95), 3)
        out[f"great_circle_ms_median_{count}_units"] = round(statistics.median(straight), 3)
        out[f"road_to_great_circle_ratio_{count}_units"] = round(
            statistics.median(road) / statistics.median(straight), 2
        )
    largest = max(counts)
    units = random_units(rng, largest)
    keys = sorted(graph.keys)
    closed = frozenset(rng.choice(keys, size=max(1, int(len(keys) * CLOSED_SHARE)), replace=False).tolist())
    start = time.perf_counter()
    graph.with_closures(closed)
    out["closure_view_build_ms"] = round((time.perf_counter() - start) * 1000, 3)
    timed = time_calls(lambda lat, lon: rank_units(lat, lon, units, graph, closed), targets, args.warmup)
    out[f"rank_ms_median_{largest}_units_{len(closed)}_closed"] = round(statistics.median(timed), 3)
    out[f"rank_ms_p95_{largest}_units_{len(closed)}_closed"] = round(nearest_rank(timed, 95), 3)
    return out


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark."""
    args = parse_args(argv)
    rng = np.random.default_rng(args.seed)
    segments = grid_segments(rng, args.spacing_km)
    start = time.perf_counter()
    graph = RoadGraph.build(segments)
    build_ms = (time.perf_counter() - start) * 1000
    start = time.perf_counter()
    graph.with_closures()  # KD tree of open nodes; the csr matrices follow on the first query
    view_ms = (time.perf_counter() - start) * 1000
    out: dict[str, Any] = {
        "graph_segments": len(segments),
        "graph_nodes": graph.node_count,
        "graph_edges": graph.edge_count,
        "graph_build_ms": round(build_ms, 1),
        "open_view_build_ms": round(view_ms, 1),
    }
    out.update(measure(graph, rng, args))
    largest = max(int(c) for c in args.units.split(","))
    out["target_ms"] = TARGET_MS
    out["meets_target"] = out[f"rank_ms_median_{largest}_units"] < TARGET_MS
    out["settings"] = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
    out["machine"] = {"cpu_count": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()}
    out["date"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    print_table(out)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    plot_route(out, args.out.with_suffix(".png"))
    print(json.dumps(out, ensure_ascii=False))
    return 0


def print_table(out: dict[str, Any]) -> None:
    """Human-readable summary."""
    print(
        f"graph: {out['graph_segments']:,} segments, {out['graph_nodes']:,} nodes, {out['graph_edges']:,} edges; "
        f"build {out['graph_build_ms']:.0f} ms + open view {out['open_view_build_ms']:.0f} ms"
    )
    print(f"{'units':>8}{'road median':>14}{'road p95':>11}{'straight':>11}{'ratio':>8}")
    for key in out:
        if key.startswith("rank_ms_median_") and key.endswith("_units"):
            n = key.removeprefix("rank_ms_median_").removesuffix("_units")
            print(
                f"{int(n):>8,}{out[key]:>12.2f}ms{out[f'rank_ms_p95_{n}_units']:>9.2f}ms"
                f"{out[f'great_circle_ms_median_{n}_units']:>9.2f}ms{out[f'road_to_great_circle_ratio_{n}_units']:>8.1f}"
            )
    for key, value in out.items():
        if key.endswith("_closed") or key == "closure_view_build_ms":
            print(f"{key}: {value}")


if __name__ == "__main__":
    sys.exit(main())
