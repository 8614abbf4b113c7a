"""PNG plots of the benchmark records (matplotlib, Agg backend): one function per bench, record in, file out."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only: no display on the bench machine

import matplotlib.pyplot as plt  # after matplotlib.use(): the backend is chosen before pyplot loads
from matplotlib.ticker import FuncFormatter

PLAIN = FuncFormatter(lambda value, _pos: f"{value:,.0f}" if value >= 1 else f"{value:g}")

COLOURS = {"bare": "tab:gray", "sqlite": "tab:blue", "postgres": "tab:orange"}
DPI = 110


def _finish(fig: Any, path: Path, record: dict[str, Any]) -> Path:
    """Stamp the machine and date, save, close."""
    machine = record.get("machine") or {}
    fig.text(
        0.01, 0.005, f"{record.get('date', '')}  ·  {machine.get('cpu_count', '?')} CPUs  ·  "
        f"{machine.get('platform', '')}  ·  Python {machine.get('python', '')}", fontsize=7, color="dimgray",
    )  # fmt: skip
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


def plot_intake(record: dict[str, Any], path: Path) -> Path:
    """Intake: answer latency (p50, p99) against offered load per target, and where each target saturates."""
    fig, ax = plt.subplots(figsize=(8, 4.6))
    rate = float((record.get("settings") or {}).get("rate_per_s") or 0)
    found = re.compile(r"^(bare|sqlite|postgres)_p99_ms_at_([0-9_]+)_per_s$")
    for key, value in record.items():
        match = found.match(key)
        if not match or value is None:
            continue
        name, at = match.group(1), float(match.group(2).replace("_", "."))
        p50 = record.get(f"{name}_p50_ms") if at == rate else None
        ax.scatter([at], [value], marker="^", color=COLOURS.get(name), label=f"{name} p99", zorder=3)
        if p50 is not None:
            ax.scatter([at], [p50], marker="o", color=COLOURS.get(name), label=f"{name} p50", zorder=3)
    for name in ("bare", "sqlite", "postgres"):
        rps = record.get(f"{name}_rps")
        if rps:
            ax.axvline(rps, color=COLOURS[name], linestyle="--", linewidth=1, label=f"{name} saturates: {rps:,.0f}/s")
    ax.set(xscale="log", yscale="log", xlabel="offered load (messages/s, log)", ylabel="answer latency (ms, log)",
           title="signed SMS at POST /twilio/sms: latency at a fixed rate, and saturation throughput")  # fmt: skip
    ax.xaxis.set_major_formatter(PLAIN)
    ax.xaxis.set_minor_formatter(FuncFormatter(lambda _value, _pos: ""))
    ax.legend(fontsize=7, ncol=2)
    return _finish(fig, path, record)


def plot_pipeline(record: dict[str, Any], path: Path) -> Path:
    """Pipeline: escalation latency (p50, p99) against load per database; a p99 never reached is drawn as ↑."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4.2))
    runs = record.get("runs") or []
    target = record.get("target_p99_ms")
    ceiling = max([run.get("max_escalated_ms") or 0 for run in runs] + [target or 0]) * 1.5
    for database in dict.fromkeys(run["database"] for run in runs):
        mine = [run for run in runs if run["database"] == database]
        rates = [run["rate_per_s"] for run in mine]
        colour = COLOURS.get(database)
        left.plot(rates, [run["p50_ms"] for run in mine], "o-", color=colour, label=f"{database} p50")
        p99 = [run["p99_ms"] if run["p99_ms"] is not None else ceiling for run in mine]
        left.plot(rates, p99, "^--", color=colour, label=f"{database} p99")
        for rate, run in zip(rates, mine, strict=True):
            if run["p99_ms"] is None:
                left.annotate("not reached", (rate, ceiling), fontsize=7, ha="center", va="bottom", color=colour)
    if target:
        left.axhline(target, color="red", linewidth=1, linestyle=":", label=f"target p99 {target:g} ms")
    left.set(xscale="log", yscale="log", xlabel="inbound SMS (messages/s, open loop)",
             ylabel="SMS in → escalation SMS at Twilio (ms, log)", title="end-to-end escalation latency")  # fmt: skip
    rates = sorted({run["rate_per_s"] for run in runs})
    left.set_xticks(rates, [f"{rate:g}" for rate in rates])  # after set_xscale, which resets the ticks
    left.xaxis.set_minor_formatter(FuncFormatter(lambda _value, _pos: ""))
    left.legend(fontsize=7)
    parts = ("intake", "inbox_wait", "processing", "to_twilio")
    labels = [f"{run['database']}\n{run['rate_per_s']:g}/s" for run in runs]
    bottom = [0.0] * len(runs)
    for part in parts:
        values = [(run.get("breakdown_p50_ms") or {}).get(part) or 0.0 for run in runs]
        right.bar(labels, values, bottom=bottom, label=part.replace("_", " "))
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    right.set(ylabel="ms (median of each part)", title="where the time goes (p50 per part)")
    right.legend(fontsize=7)
    return _finish(fig, path, record)


def plot_scale(record: dict[str, Any], path: Path) -> Path:
    """Scale: time per report against stored reports, one line per unit count; and the steps of each run."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4.2))
    runs = record.get("runs") or []
    for units in sorted({run["units"] for run in runs}):
        mine = sorted((run for run in runs if run["units"] == units), key=lambda run: run["stored_reports"])
        left.plot([run["stored_reports"] for run in mine], [run["ms_per_report"] for run in mine], "o-",
                  label=f"{units:,} units")  # fmt: skip
    left.set(xscale="log", xlabel="stored reports (log)", ylabel="ms per report",
             title="understand + locate + cluster + route, per report")  # fmt: skip
    left.set_ylim(bottom=0)
    left.xaxis.set_major_formatter(PLAIN)
    left.legend(fontsize=8)
    steps = sorted({step for run in runs for step in run.get("steps_ms_per_report", {}) if step != "route"})
    labels = [f"{run['stored_reports']:,} rep.\n{run['units']:,} units" for run in runs]
    bottom = [0.0] * len(runs)
    for step in [*steps, "route"]:
        if step == "route":
            values = [run.get("steps_ms_per_report", {}).get("route", 0.0) for run in runs]
            right.scatter(labels, values, marker="_", s=400, color="black", label="route (inside escalate)", zorder=3)
            continue
        values = [run.get("steps_ms_per_report", {}).get(step, 0.0) for run in runs]
        right.bar(labels, values, bottom=bottom, label=step.replace("_", " "))
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    right.set(ylabel="ms per report", title="pipeline steps")
    right.tick_params(axis="x", labelsize=7)
    right.legend(fontsize=6)
    return _finish(fig, path, record)


def plot_route(record: dict[str, Any], path: Path) -> Path:
    """Routing: ranking time against the number of units, over roads and great circle."""
    fig, ax = plt.subplots(figsize=(6, 4.2))
    counts = sorted(int(key.split("_")[3]) for key in record if re.fullmatch(r"rank_ms_median_\d+_units", key))
    ax.plot(counts, [record[f"rank_ms_median_{n}_units"] for n in counts], "o-", label="road network, median")
    ax.plot(counts, [record[f"rank_ms_p95_{n}_units"] for n in counts], "^--", label="road network, p95")
    ax.plot(counts, [record[f"great_circle_ms_median_{n}_units"] for n in counts], "s:", label="great circle, median")
    if record.get("target_ms"):
        ax.axhline(
            record["target_ms"], color="red", linestyle=":", linewidth=1, label=f"target {record['target_ms']:g} ms"
        )
    ax.set(xscale="log", yscale="log", xlabel="units ranked (log)", ylabel="ms per ranking (log)",
           title="rank_units on a CAR-sized road graph")  # fmt: skip
    ax.legend(fontsize=8)
    return _finish(fig, path, record)


def plot_cluster(record: dict[str, Any], path: Path) -> Path:
    """Clustering: quality figures, and cost per report with 10 thousand and 1 million stored reports."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4.2))
    names = ["pairwise_precision", "pairwise_recall", "pairwise_f1", "bcubed_precision", "bcubed_recall", "bcubed_f1"]
    left.bar([n.replace("_", "\n") for n in names], [record.get(n) or 0 for n in names], color="tab:green")
    left.set(ylim=(0, 1), title=f"clustering quality ({record.get('bad_merges')} bad merges)")
    left.tick_params(axis="x", labelsize=7)
    sizes = [("10k", record.get("ms_per_report_10k")), ("1M", record.get("ms_per_report_1m"))]
    right.bar([label for label, _ in sizes], [value or 0 for _, value in sizes], color="tab:purple")
    right.set(ylabel="ms per report", title="whole pipeline per report, by stored reports")
    return _finish(fig, path, record)


def plot_shares(record: dict[str, Any], path: Path, keys: list[str], title: str) -> Path:
    """Shares (0-1) of one record as bars: geotag and understanding quality."""
    fig, ax = plt.subplots(figsize=(8, 4.2))
    present = [key for key in keys if isinstance(record.get(key), int | float)]
    ax.bar([key.replace("_", "\n") for key in present], [record[key] for key in present], color="tab:cyan")
    ax.set(ylim=(0, 1), title=title)
    ax.tick_params(axis="x", labelsize=7)
    return _finish(fig, path, record)


GEOTAG_KEYS = [
    "located_share", "within_5km_share", "within_25km_share", "located_share_heldback", "within_5km_share_heldback",
    "within_25km_share_heldback", "overclaim_share",
]  # fmt: skip
UNDERSTAND_KEYS = [
    "category_accuracy", "category_accuracy_holdout", "language_accuracy", "negation_accuracy", "dead_count_accuracy",
    "wounded_count_accuracy", "armed_count_accuracy",
]  # fmt: skip
