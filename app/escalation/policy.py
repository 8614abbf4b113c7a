"""Escalation policies as data: per priority, the levels to walk until someone acknowledges (pure)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_POLICY_FILE = Path(__file__).with_name("policy.json")
PRIORITIES = ("P1", "P2", "P3", "P4")
TARGETS = frozenset({"ranked", "sector_hq", "joc"})
CHANNELS = frozenset({"sms", "voice", "webhook"})


class PolicyError(ValueError):
    """The policy file is not usable; the message says where and why."""


@dataclass(frozen=True)
class Level:
    """One step of an escalation: whom, how, and how long to wait for an acknowledgement."""

    name: str
    target: str  # ranked, sector_hq, joc
    channels: tuple[str, ...]
    ack_timeout_s: int
    repeats: int = 0  # extra rounds at this level before moving on
    count: int = 1  # units taken from the ranking ("ranked" only)


@dataclass(frozen=True)
class Policy:
    """The levels for each priority."""

    levels: dict[str, tuple[Level, ...]]

    def level(self, priority: str, index: int) -> Level:
        """The level at `index` for this priority (the last one once past the end)."""
        levels = self.levels[priority]
        return levels[min(index, len(levels) - 1)]

    def next_step(self, priority: str, index: int, round_: int) -> tuple[int, int]:
        """After a timeout at (level, round): repeat the level, move to the next, or repeat the last for ever."""
        levels = self.levels[priority]
        if round_ < self.level(priority, index).repeats or index >= len(levels) - 1:
            return index, round_ + 1
        return index + 1, 0


def load_policy(path: Path | None = None) -> Policy:
    """Read and check a policy file (the bundled one by default)."""
    path = path or DEFAULT_POLICY_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise PolicyError(f"{path}: cannot read the policy ({type(exc).__name__}: {exc})") from exc
    return parse_policy(data, str(path))


def parse_policy(data: Any, where: str = "policy") -> Policy:
    """Build a Policy from decoded JSON; PolicyError names the priority and level at fault."""
    if not isinstance(data, dict):
        raise PolicyError(f"{where}: expected an object of priorities")
    missing = [p for p in PRIORITIES if p not in data]
    if missing:
        raise PolicyError(f"{where}: no levels for {', '.join(missing)}")
    levels = {p: tuple(_level(raw, f"{where}: {p} level {i + 1}") for i, raw in enumerate(_levels(data[p], where, p)))
              for p in PRIORITIES}  # fmt: skip
    return Policy(levels)


def _levels(entry: Any, where: str, priority: str) -> list[Any]:
    levels = entry.get("levels") if isinstance(entry, dict) else None
    if not isinstance(levels, list) or not levels:
        raise PolicyError(f"{where}: {priority} needs a non-empty list of levels")
    return levels


def _level(raw: Any, where: str) -> Level:
    if not isinstance(raw, dict):
        raise PolicyError(f"{where}: expected an object")
    target, channels = raw.get("target"), raw.get("channels")
    if target not in TARGETS:
        raise PolicyError(f"{where}: target must be one of {sorted(TARGETS)}")
    if not isinstance(channels, list) or not channels or not set(channels) <= CHANNELS:
        raise PolicyError(f"{where}: channels must be a non-empty list of {sorted(CHANNELS)}")
    numbers = {key: raw.get(key, default) for key, default in (("ack_timeout_s", None), ("repeats", 0), ("count", 1))}
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in numbers.values()):
        raise PolicyError(f"{where}: ack_timeout_s, repeats and count must be whole numbers")
    if numbers["ack_timeout_s"] < 1 or numbers["repeats"] < 0 or numbers["count"] < 1:
        raise PolicyError(f"{where}: ack_timeout_s must be at least 1 s, repeats >= 0, count >= 1")
    return Level(str(raw.get("name") or target), target, tuple(channels), numbers["ack_timeout_s"],
                 numbers["repeats"], numbers["count"])  # fmt: skip
