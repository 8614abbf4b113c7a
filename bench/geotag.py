"""Geotagging accuracy benchmark: run `kengele parse -` over real CAR event descriptions, score against truth.

Usage (from the repo root):

    .venv/bin/python bench/geotag.py
    .venv/bin/python bench/geotag.py --events /work/shared/data/car_events_2013_2016.csv \
        --kengele .venv/bin/kengele --gazetteer app/data/demo/car_places.csv --timeout 300

Input: the UCDP GED events of 2013-2016 whose place is exact (`where_prec == 1`). The message is the reporter's
`where_description` (newlines replaced by spaces), "as a villager might send it"; truth is `lat`, `lon`.
All messages go through ONE `kengele parse -` subprocess, one message per stdin line, one JSON per stdout line.

Splits: "tune" = events starting 2013-2014 (place aliases may be tuned on these), "held back" = 2015-2016
(places and phrasings never seen). Prints a table, then the metrics as one JSON object on its last line,
and writes the same object to bench/results/geotag.json (plus bench/results/geotag_errors.png if matplotlib
is importable).
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import math
import os
import platform
import signal
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
EVENTS_NAME = "car_events_2013_2016.csv"
SHARED_EVENTS = Path("/work/shared/data") / EVENTS_NAME
REPO_EVENT_COPIES = (REPO / "tests" / "data" / EVENTS_NAME, REPO / "app" / "data" / "demo" / EVENTS_NAME)
DEFAULT_GAZETTEER = REPO / "app" / "data" / "demo" / "car_places.csv"
RESULTS_DIR = REPO / "bench" / "results"
EARTH_RADIUS_KM = 6371.0088
TUNE_YEARS = {2013, 2014}
HELDBACK_YEARS = {2015, 2016}
WORST_COUNT = 15
SPLITS = (("", None), ("_tune", "tune"), ("_heldback", "heldback"))


def default_events_path() -> Path:
    """The shared events file, or the first copy of it found under the repo."""
    for path in (SHARED_EVENTS, *REPO_EVENT_COPIES):
        if path.is_file():
            return path
    return SHARED_EVENTS


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=Path, default=None, help=f"events CSV (default {SHARED_EVENTS})")
    parser.add_argument("--kengele", type=Path, default=Path(sys.executable).parent / "kengele")
    parser.add_argument("--gazetteer", type=Path, default=DEFAULT_GAZETTEER)
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds allowed for the parse subprocess")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "geotag.json")
    args = parser.parse_args(argv)
    args.events = args.events or default_events_path()
    return args


def split_of(year: int) -> str | None:
    """'tune', 'heldback' or None for a start year."""
    if year in TUNE_YEARS:
        return "tune"
    return "heldback" if year in HELDBACK_YEARS else None


def load_events(path: Path) -> list[dict[str, Any]]:
    """Exact-place events (where_prec == 1) with message text, truth and split."""
    events = []
    with path.open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            if row["where_prec"].strip() != "1":
                continue
            text = " ".join(row["where_description"].split())
            year = int(row["date_start"][:4])
            events.append(
                {
                    "id": row["id"],
                    "text": text,
                    "lat": float(row["lat"]),
                    "lon": float(row["lon"]),
                    "split": split_of(year),
                    "truth_place": row["where_coordinates"],
                }
            )
    return events


def run_parse(kengele: Path, gazetteer: Path, texts: list[str], timeout: float) -> tuple[list[dict], float]:
    """Run one `kengele parse -` over all texts; return the parsed JSON lines and the wall time in seconds."""
    cmd = [str(kengele), "parse", "--gazetteer", str(gazetteer), "-"]
    stdin = "".join(text + "\n" for text in texts)
    started = time.perf_counter()
    stdout, stderr, returncode = communicate_bounded(cmd, stdin, timeout)
    wall = time.perf_counter() - started
    if returncode != 0:
        sys.exit(f"error: {' '.join(cmd)} exited {returncode}:\n{stderr[-2000:]}")
    return align_blank(texts, parse_output(stdout, texts)), wall


def communicate_bounded(cmd: list[str], stdin: str, timeout: float) -> tuple[str, str, int]:
    """Run cmd in its own process group; on timeout kill the whole group and exit."""
    with subprocess.Popen(
        cmd,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        encoding="utf-8",
        start_new_session=True,
    ) as proc:
        try:
            stdout, stderr = proc.communicate(stdin, timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            sys.exit(f"error: {' '.join(cmd)} did not finish within {timeout:.0f} s (killed)")
    return stdout, stderr, proc.returncode


def parse_output(stdout: str, texts: list[str]) -> list[dict]:
    """One JSON object per non-empty stdout line; exit unless there is one per message (or per non-blank one)."""
    lines = [line for line in stdout.splitlines() if line.strip()]
    if len(lines) not in (len(texts), sum(bool(text) for text in texts)):
        sys.exit(f"error: sent {len(texts)} messages, got {len(lines)} output lines:\n{stdout[:1000]}")
    try:
        return [json.loads(line) for line in lines]
    except json.JSONDecodeError as exc:
        sys.exit(f"error: output line is not JSON ({exc}): {stdout[:1000]}")


def align_blank(texts: list[str], results: list[dict]) -> list[dict]:
    """If the parser skipped blank messages, put an empty (unlocated) result in their place."""
    if len(results) == len(texts):
        return results
    answers = iter(results)
    return [next(answers) if text else {} for text in texts]


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in km."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


def as_float(value: Any) -> float | None:
    """A finite float, or None."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def score(event: dict[str, Any], result: dict[str, Any]) -> dict[str, Any]:
    """One scored row: method, place, claimed precision and error in km (None when unlocated)."""
    loc = result.get("location") or {}
    method = loc.get("method") or "unlocated"
    lat, lon = as_float(loc.get("lat")), as_float(loc.get("lon"))
    located = method != "unlocated" and lat is not None and lon is not None
    error = haversine_km(event["lat"], event["lon"], lat, lon) if located else None
    precision_m = as_float(loc.get("precision_m"))
    return {
        **event,
        "method": method,
        "place": loc.get("place"),
        "located": located,
        "error_km": error,
        "precision_m": precision_m,
        "overclaim": located and precision_m is not None and precision_m / 1000.0 < error,
        "parse_ms": as_float(result.get("parse_ms")),
    }


def nearest_rank(values: list[float], pct: float) -> float | None:
    """Nearest-rank percentile of values (None if empty)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(pct / 100.0 * len(ordered)) - 1)]


def share(count: int, total: int) -> float | None:
    """count / total, or None when total is 0."""
    return count / total if total else None


def summarize(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Headline metrics for a set of scored rows."""
    located = [r for r in rows if r["located"]]
    errors = [r["error_km"] for r in located]
    return {
        "events": len(rows),
        "located_share": share(len(located), len(rows)),
        "median_error_km": statistics.median(errors) if errors else None,
        "p90_error_km": nearest_rank(errors, 90),
        "within_5km_share": share(sum(e <= 5 for e in errors), len(rows)),
        "within_25km_share": share(sum(e <= 25 for e in errors), len(rows)),
        "overclaim_share": share(sum(r["overclaim"] for r in located), len(located)),
        "precision_missing_share": share(sum(r["precision_m"] is None for r in located), len(located)),
    }


def by_method(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per method: n, located n, median error km and over-claim share."""
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        groups[row["method"]].append(row)
    out = {}
    for method, group in sorted(groups.items(), key=lambda item: -len(item[1])):
        errors = [r["error_km"] for r in group if r["located"]]
        out[method] = {
            "n": len(group),
            "located": len(errors),
            "median_error_km": statistics.median(errors) if errors else None,
            "overclaim_share": share(sum(r["overclaim"] for r in group if r["located"]), len(errors)),
        }
    return out


def metrics(rows: list[dict[str, Any]], wall_s: float) -> dict[str, Any]:
    """The JSON object: headline metrics overall and per split, by-method breakdown, timing and settings."""
    out: dict[str, Any] = {}
    for suffix, split in SPLITS:
        subset = [r for r in rows if split is None or r["split"] == split]
        out.update({key + suffix: value for key, value in summarize(subset).items()})
    parse_ms = [r["parse_ms"] for r in rows if r["parse_ms"] is not None]
    out["by_method"] = by_method(rows)
    out["parse_ms_median"] = statistics.median(parse_ms) if parse_ms else None
    out["parse_ms_p95"] = nearest_rank(parse_ms, 95)
    out["wall_s"] = round(wall_s, 3)
    return out


def fmt(value: float | None, spec: str) -> str:
    """Format a number, or '-' for None."""
    return "-" if value is None else format(value, spec)


def print_table(result: dict[str, Any]) -> None:
    """Headline table: one column per split."""
    labels = (
        ("events", "events", "d"),
        ("located_share", "located", ".1%"),
        ("median_error_km", "median error km", ".2f"),
        ("p90_error_km", "p90 error km", ".1f"),
        ("within_5km_share", "within 5 km (of all)", ".1%"),
        ("within_25km_share", "within 25 km (of all)", ".1%"),
        ("overclaim_share", "over-claim (of located)", ".1%"),
        ("precision_missing_share", "no precision_m (of located)", ".1%"),
    )
    print(f"{'':30}{'all':>10}{'tune 13-14':>12}{'held 15-16':>12}")
    for key, label, spec in labels:
        cells = [fmt(result[key + suffix], spec) for suffix, _ in SPLITS]
        print(f"{label:30}{cells[0]:>10}{cells[1]:>12}{cells[2]:>12}")
    print(
        f"parse: {fmt(result['parse_ms_median'], '.2f')} ms median, {fmt(result['parse_ms_p95'], '.2f')} ms p95, "
        f"{result['wall_s']:.1f} s wall for the whole subprocess"
    )


def print_methods(methods: dict[str, dict[str, Any]]) -> None:
    """Per-method breakdown table."""
    print(f"\n{'method':16}{'n':>6}{'located':>9}{'median km':>11}{'over-claim':>12}")
    for method, stats in methods.items():
        print(
            f"{method:16}{stats['n']:>6}{stats['located']:>9}{fmt(stats['median_error_km'], '.2f'):>11}"
            f"{fmt(stats['overclaim_share'], '.1%'):>12}"
        )


def print_worst(rows: list[dict[str, Any]], count: int = WORST_COUNT) -> None:
    """The largest errors among located events, for debugging."""
    worst = sorted((r for r in rows if r["located"]), key=lambda r: -r["error_km"])[:count]
    print(f"\n{count} worst errors (km, split, method, matched place <- true place: description)")
    for r in worst:
        claim = fmt(None if r["precision_m"] is None else r["precision_m"] / 1000, ".0f")
        print(
            f"{r['error_km']:8.1f} {r['split'] or '-':9} {r['method']:12} {r['place']!s} (±{claim} km) "
            f"<- {r['truth_place']}: {r['text'][:110]}"
        )


def plot_cdf(rows: list[dict[str, Any]], path: Path) -> bool:
    """Write a CDF of error km per split (log x); return False if matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for split, label in (("tune", "tune 2013-14"), ("heldback", "held back 2015-16")):
        subset = [r for r in rows if r["split"] == split]
        errors = sorted(max(r["error_km"], 0.01) for r in subset if r["located"])
        ys = [(i + 1) / len(subset) for i in range(len(errors))]
        ax.step(errors, ys, where="post", label=f"{label} (n={len(subset)})")
    ax.set(xscale="log", xlabel="error km (log)", ylabel="share of all events (unlocated never reached)", ylim=(0, 1))
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark."""
    args = parse_args(argv)
    events = load_events(args.events)
    results, wall = run_parse(args.kengele, args.gazetteer, [e["text"] for e in events], args.timeout)
    rows = [score(event, result) for event, result in zip(events, results, strict=True)]
    out = metrics(rows, wall)
    out["settings"] = {"events_file": str(args.events), "gazetteer": str(args.gazetteer), "kengele": str(args.kengele)}
    out["machine"] = {"cpu_count": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()}
    out["date"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    png = args.out.with_name("geotag_errors.png")
    print(f"geotag benchmark: {len(events)} exact-place events from {args.events}\n")
    print_table(out)
    print_methods(out["by_method"])
    print_worst(rows)
    print(f"\nplot: {png}" if plot_cdf(rows, png) else "\nplot: skipped (matplotlib not installed)")
    args.out.write_text(json.dumps(out, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(out, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
