"""Understanding benchmark: `kengele parse -` against the labelled test set and 5,240 real Haitian SMS.

Runs the parser once over every labelled message (tests/data/understand_labelled.csv) and compares
language, category, negation and stated counts with the labels, overall and per split (tune / holdout).
Then runs it once over the `original` column of tests/data/haiti_4636_sms_dev.csv to check that every
line gets one valid JSON object back, and to time it. Prints tables and, as the last line, one JSON
object (also written to bench/results/understand.json).

    .venv/bin/python bench/understand.py [--kengele PATH] [--gazetteer CSV] [--timeout 600]
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import platform
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from support.plots import UNDERSTAND_KEYS, plot_shares

BENCH_DIR = Path(__file__).resolve().parent
PROJECT_ROOT = BENCH_DIR.parent
RESULTS_FILE = BENCH_DIR / "results" / "understand.json"
LABELLED_FILE = PROJECT_ROOT / "tests" / "data" / "understand_labelled.csv"
HAITI_FILE = PROJECT_ROOT / "tests" / "data" / "haiti_4636_sms_dev.csv"
DEFAULT_GAZETTEER = PROJECT_ROOT / "app" / "data" / "demo" / "car_places.csv"
REQUIRED_KEYS = ("language", "category", "negated", "severity", "counts", "location", "parse_ms")
COUNT_KEYS = ("dead", "wounded", "armed")
SPLITS = ("tune", "holdout")
CONFUSIONS_SHOWN = 12


@dataclass
class Run:
    """One `kengele parse -` run: exit code, one parsed object (or None) per input line, timing."""

    returncode: int | None
    outputs: list[dict[str, Any] | None]
    output_lines: int
    seconds: float
    stderr_tail: str = ""
    problems: list[str] = field(default_factory=list)

    @property
    def errors(self) -> int:
        """Input lines that got no valid JSON object back."""
        return sum(1 for out in self.outputs if out is None)

    @property
    def extra_lines(self) -> int:
        """Output lines beyond one per input line."""
        return max(self.output_lines - len(self.outputs), 0)

    @property
    def aligned(self) -> bool:
        """Whether exactly one output line came back per input line (so answers can be matched by position)."""
        return self.output_lines == len(self.outputs)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--kengele",
        type=Path,
        default=Path(sys.executable).parent / "kengele",
        help="the kengele console script (default: next to this Python)",
    )
    parser.add_argument("--gazetteer", type=Path, default=DEFAULT_GAZETTEER, help="places CSV for --gazetteer")
    parser.add_argument("--labelled", type=Path, default=LABELLED_FILE, help="labelled messages CSV")
    parser.add_argument("--haiti", type=Path, default=HAITI_FILE, help="Haiti 4636 CSV (column `original`)")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds allowed for each parse run")
    parser.add_argument("--out", type=Path, default=RESULTS_FILE, help="where to write the JSON summary")
    return parser.parse_args(argv)


def one_line(text: str) -> str:
    """The text on a single line: every line break (as str.splitlines sees them) becomes a space."""
    return " ".join(text.splitlines()).strip() if text else ""


def read_csv(path: Path) -> list[dict[str, str]]:
    """All rows of a UTF-8 CSV file."""
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def valid_object(line: str) -> dict[str, Any] | None:
    """The JSON object on one output line if it has every required key, else None."""
    try:
        value = json.loads(line)
    except ValueError:
        return None
    if not isinstance(value, dict) or any(key not in value for key in REQUIRED_KEYS):
        return None
    return value if isinstance(value.get("counts"), dict) else None


def run_parse(kengele: Path, gazetteer: Path, texts: list[str], timeout: float) -> Run:
    """Feed every text, one per line, to a single `kengele parse -` process and collect its answers."""
    command = [str(kengele), "parse", "-", "--gazetteer", str(gazetteer)]
    stdin = "".join(one_line(text) + "\n" for text in texts)
    started = time.perf_counter()
    try:
        done = subprocess.run(
            command,
            input=stdin,
            capture_output=True,
            text=True,
            encoding="utf-8",
            errors="replace",
            timeout=timeout,
            check=False,
            cwd=PROJECT_ROOT,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        problem = f"{type(exc).__name__}: {exc}"
        return Run(None, [None] * len(texts), 0, time.perf_counter() - started, problems=[problem])
    lines = output_lines(done.stdout)
    outputs = [valid_object(line) for line in lines[: len(texts)]]
    outputs += [None] * (len(texts) - len(outputs))
    run = Run(
        done.returncode,
        outputs,
        len(lines),
        time.perf_counter() - started,
        stderr_tail=done.stderr.strip()[-600:],
    )
    run.problems = run_problems(run)
    return run


def output_lines(stdout: str) -> list[str]:
    """stdout split on newlines only (a JSON string may hold other line separators such as U+2028)."""
    lines = stdout.split("\n")
    return lines[:-1] if lines and lines[-1] == "" else lines


def run_problems(run: Run) -> list[str]:
    """Human-readable problems with a run: exit code, missing or extra lines, invalid objects."""
    problems = []
    if run.returncode != 0:
        problems.append(f"exit code {run.returncode}")
    if not run.aligned:
        problems.append(f"{run.output_lines} output lines for {len(run.outputs)} input lines")
    if run.errors:
        problems.append(f"{run.errors} input lines without a valid JSON object")
    return problems


def percentile(values: list[float], fraction: float) -> float | None:
    """Nearest-rank percentile (fraction in 0..1) of the values, None if there are none."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(math.ceil(fraction * len(ordered)) - 1, 0)]


def share(hits: int, total: int) -> float | None:
    """hits / total rounded to 4 places, None when total is 0."""
    return round(hits / total, 4) if total else None


def predicted(out: dict[str, Any] | None, key: str) -> Any:
    """One field of a parser answer, None when the answer is missing."""
    return None if out is None else out.get(key)


def predicted_count(out: dict[str, Any] | None, key: str) -> Any:
    """One of the counts of a parser answer, None when missing."""
    counts = predicted(out, "counts")
    return counts.get(key) if isinstance(counts, dict) else None


def label_count(row: dict[str, str], key: str) -> int | None:
    """A labelled count as int, None when blank."""
    value = row[key].strip()
    return int(value) if value else None


def pairs(rows: list[dict[str, str]], outputs: list[dict[str, Any] | None]) -> list[tuple[dict[str, str], Any]]:
    """Label rows zipped with their parser answers."""
    return list(zip(rows, outputs, strict=True))


def accuracy(matched: list[tuple[dict[str, str], Any]], field_name: str) -> tuple[int, int]:
    """(correct, total) for `language` or `category` over the given pairs."""
    correct = sum(1 for row, out in matched if predicted(out, field_name) == row[field_name])
    return correct, len(matched)


def count_accuracy(matched: list[tuple[dict[str, str], Any]], key: str) -> tuple[int, int]:
    """(exact, stated) for one count, over the rows whose label states it."""
    stated = [(row, out) for row, out in matched if label_count(row, key) is not None]
    exact = sum(1 for row, out in stated if predicted_count(out, key) == label_count(row, key))
    return exact, len(stated)


def negation_accuracy(matched: list[tuple[dict[str, str], Any]]) -> tuple[int, int]:
    """(correct, total) for the negated flag."""
    correct = sum(1 for row, out in matched if predicted(out, "negated") is (row["negated"] == "1"))
    return correct, len(matched)


def subset(matched: list[tuple[dict[str, str], Any]], column: str, value: str) -> list[tuple[dict[str, str], Any]]:
    """The pairs whose label row has column == value."""
    return [(row, out) for row, out in matched if row[column] == value]


def fmt(hits: int, total: int) -> str:
    """`0.812 (13/16)` style cell."""
    return f"{hits / total:.3f} ({hits}/{total})" if total else "-"


def print_group_table(matched: list[tuple[dict[str, str], Any]], column: str, fields: tuple[str, ...]) -> None:
    """Accuracy of each field for every value of `column` (language or category), with n."""
    values = sorted({row[column] for row, _ in matched}, key=lambda v: -len(subset(matched, column, v)))
    print(f"\n{('by ' + column):<20}{'n':>5}  " + "".join(f"{name + ' accuracy':<26}" for name in fields))
    for value in values:
        part = subset(matched, column, value)
        cells = "".join(f"{fmt(*accuracy(part, name)):<26}" for name in fields)
        print(f"{value:<20}{len(part):>5}  {cells}")


def print_precision(matched: list[tuple[dict[str, str], Any]]) -> None:
    """Category precision: of the messages given each category, how many carry that label."""
    given = Counter(predicted(out, "category") for _, out in matched)
    right = Counter(row["category"] for row, out in matched if predicted(out, "category") == row["category"])
    print(
        "\ncategory precision: "
        + ", ".join(
            f"{cat}={right[cat] / n:.2f} ({right[cat]}/{n})" for cat, n in given.most_common() if cat is not None
        )
    )


def confusions(matched: list[tuple[dict[str, str], Any]]) -> list[tuple[str, str, int]]:
    """The most common (labelled -> predicted) category mistakes."""
    mistakes = Counter(
        (row["category"], str(predicted(out, "category")))
        for row, out in matched
        if predicted(out, "category") != row["category"]
    )
    return [(gold, guess, n) for (gold, guess), n in mistakes.most_common(CONFUSIONS_SHOWN)]


def print_confusions(matched: list[tuple[dict[str, str], Any]]) -> None:
    """The most common category mistakes, one per line, with an example id."""
    print("\nmost common category mistakes (label -> predicted):")
    for gold, guess, n in confusions(matched):
        example = next(
            row["id"] for row, out in matched if row["category"] == gold and str(predicted(out, "category")) == guess
        )
        print(f"  {n:>3}  {gold} -> {guess}   e.g. {example}")


def labelled_summary(matched: list[tuple[dict[str, str], Any]]) -> dict[str, Any]:
    """Headline figures of the labelled run."""
    record: dict[str, Any] = {
        "category_accuracy": share(*accuracy(matched, "category")),
        "language_accuracy": share(*accuracy(matched, "language")),
    }
    for split in SPLITS:
        part = subset(matched, "split", split)
        record[f"category_accuracy_{split}"] = share(*accuracy(part, "category"))
        record[f"language_accuracy_{split}"] = share(*accuracy(part, "language"))
    record["negation_accuracy"] = share(*negation_accuracy(matched))
    for key in COUNT_KEYS:
        record[f"{key}_count_accuracy"] = share(*count_accuracy(matched, key))
    return record


def print_labelled(matched: list[tuple[dict[str, str], Any]], run: Run) -> None:
    """Tables for the labelled run."""
    print(f"labelled set: {len(matched)} messages, {run.seconds:.1f} s, exit code {run.returncode}")
    for split in (None, *SPLITS):
        part = subset(matched, "split", split) if split else matched
        print(
            f"  {split or 'all':<8} category {fmt(*accuracy(part, 'category')):<22}"
            f" language {fmt(*accuracy(part, 'language'))}"
        )
    print(f"  negation {fmt(*negation_accuracy(matched))}")
    for key in COUNT_KEYS:
        print(f"  stated {key} counts matched exactly {fmt(*count_accuracy(matched, key))}")
    print_group_table(matched, "language", ("category", "language"))
    print_group_table(matched, "category", ("category",))
    print_precision(matched)
    print_confusions(matched)


def blank_errors(run: Run, texts: list[str]) -> int | None:
    """Errors on blank input lines; None when the answers cannot be matched to inputs by position."""
    if not run.aligned:
        return None
    return sum(1 for text, out in zip(texts, run.outputs, strict=True) if not text and out is None)


def haiti_summary(run: Run, texts: list[str]) -> dict[str, Any]:
    """Headline figures of the Haiti run (296 of its `original` texts are empty: they must be answered too)."""
    times = [
        float(out["parse_ms"])
        for out in run.outputs
        if out is not None and isinstance(out.get("parse_ms"), int | float)
    ]
    median = percentile(times, 0.5)
    p90 = percentile(times, 0.9)
    categories = Counter(str(out.get("category")) for out in run.outputs if out is not None)
    return {
        "haiti_messages": len(run.outputs),
        "haiti_errors": run.errors + run.extra_lines,
        "haiti_blank_lines": sum(1 for text in texts if not text),
        "haiti_errors_on_blank_lines": blank_errors(run, texts),
        "haiti_exit_code": run.returncode,
        "haiti_parse_median_ms": None if median is None else round(median, 3),
        "haiti_parse_p90_ms": None if p90 is None else round(p90, 3),
        "haiti_wall_s": round(run.seconds, 2),
        "haiti_non_other_share": share(
            sum(n for cat, n in categories.items() if cat != "other"), sum(categories.values())
        ),
        "haiti_categories": dict(categories.most_common()),
    }


def print_haiti(record: dict[str, Any], run: Run) -> None:
    """Lines for the Haiti run."""
    blank = record["haiti_errors_on_blank_lines"]
    print(
        f"\nHaiti 4636: {record['haiti_messages']} messages, {run.seconds:.1f} s, exit code {run.returncode}, "
        f"errors {record['haiti_errors']} ({blank if blank is not None else 'output misaligned, unknown how many'}"
        f" of them on the {record['haiti_blank_lines']} blank lines)"
    )
    print(f"  parse_ms median {record['haiti_parse_median_ms']}  p90 {record['haiti_parse_p90_ms']}")
    print(f"  categories given: {record['haiti_categories']}")


def print_problems(name: str, run: Run) -> None:
    """Whatever went wrong with a run, with the end of its stderr."""
    if not run.problems:
        return
    print(f"\n{name}: " + "; ".join(run.problems))
    if run.stderr_tail:
        print("  stderr (end): " + run.stderr_tail.replace("\n", "\n  "))


def main(argv: list[str] | None = None) -> int:
    """Run both benchmarks, print tables and the JSON summary; exit 1 if any run had errors."""
    args = parse_args(argv)
    rows = read_csv(args.labelled)
    labelled = run_parse(args.kengele, args.gazetteer, [row["text"] for row in rows], args.timeout)
    matched = pairs(rows, labelled.outputs)
    print_labelled(matched, labelled)
    print_problems("labelled run", labelled)
    haiti_texts = [one_line(row["original"]) for row in read_csv(args.haiti)]
    haiti = run_parse(args.kengele, args.gazetteer, haiti_texts, args.timeout)
    haiti_record = haiti_summary(haiti, haiti_texts)
    print_haiti(haiti_record, haiti)
    print_problems("Haiti run", haiti)
    record = {
        **labelled_summary(matched),
        "labelled_messages": len(rows),
        "labelled_errors": labelled.errors + labelled.extra_lines,
        "labelled_exit_code": labelled.returncode,
        "confusions": [f"{gold}->{guess}:{n}" for gold, guess, n in confusions(matched)],
        **haiti_record,
        "kengele": str(args.kengele),
        "gazetteer": str(args.gazetteer),
        "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    plot_shares(record, args.out.with_suffix(".png"), UNDERSTAND_KEYS, "understanding: accuracy on the labelled set")
    print(json.dumps(record, ensure_ascii=False))
    return 1 if labelled.problems or haiti.problems else 0


if __name__ == "__main__":
    sys.exit(main())
