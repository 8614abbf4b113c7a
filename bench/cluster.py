"""Incident clustering benchmark: real CAR events, many reporters each, through a real Kengele server.

    .venv/bin/python bench/cluster.py                          # SQLite, 150 events, seed 7 (about 1 min)
    .venv/bin/python bench/cluster.py --database postgres --scale   # + cost per report over 10k and 1M history
    .venv/bin/python bench/cluster.py --self-test              # metric and scenario checks, no server

Scenario: N real UCDP events of 2013-2016 (`where_prec` <= 2, seeded sample) with their real dates compressed
into `--days` simulated days (order kept; the default 30 days gives 5 events a day, 1.5 times the pace of
January 2014, the worst month in the file with 100; `--days 10` is a stress test at 4.7 times); two events at
the same place (< 5 km) within 24 h are never both sampled (nobody could tell them apart), but events 5-25 km
apart within 24 h are, and must stay apart. For `--pairs` events a distinct event 30-60 km away within 6 h and
one at the same place 49-72 h later are added. Each event gets 2-8 SMS over 6 h from distinct fictitious +2367…
reporters in fr/sg/ln/en (type of violence 1/2/3 -> clash/fight/attack wording), naming the place as written in
the gazetteer, misspelled, "près de X", "N km de Y" (a town 5-40 km away, else a village; half name the road:
"sur l'axe Z"), UCDP's own description, or not at all (~20 %: a reporter registered with a home village at the
event). ~5 % provider retries (same MessageSid) and ~5 % same-sender repeats.

Replay: a fresh database (demo gazetteer imported, home reporters registered), a uvicorn subprocess in
production mode with the embedded worker, every message signed as Twilio signs and posted in arrival order;
by default each one is processed before the next is sent (`--no-lockstep` floods instead). The server runs the
real code with one seam moved: `app.core.clock.utcnow` reads a simulated clock file that the bench sets before
each message (this file re-executes itself as `cluster.py _clocked <kengele args>`), so weeks of reports
replay in a minute while every time Kengele stores is the simulated arrival time.

Scores (over the reports; a retry is not a report, a repeat is checked apart): pairwise and B-cubed precision,
recall, F1 of `kengele incidents --json` against the true events (a report in no incident is a singleton);
bad merges = incidents holding reports of two events > 25 km or > 24 h apart (must be 0); close merges = the
other mixed incidents; split events; repeats filed elsewhere than their original. `--scale` (PostgreSQL):
for each history size a fresh database gets that many synthetic reports (3 per incident, 2 years, at gazetteer
places; incidents older than 3 days `--closed-status`) by INSERT … SELECT generate_series, the batch is pushed
with the worker off, then a server with its embedded worker processes it; ms per report = span of the batch's
`processed_at` / (reports - 1). Prints the worst incidents, a table and, as its last line, one JSON object
(also bench/results/cluster.json; the incidents with their true events go to cluster_incidents.jsonl).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import random
import re
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import combinations
from pathlib import Path
from typing import Any

from support.databases import free_port, fresh_database, postgres_problem
from support.events import (
    GAZETTEER,
    LOCATIVES,
    SHARED_EVENTS,
    TEMPLATES,
    Place,
    Source,
    compose_text,
    default_events_path,
    km,
    load_places,
    load_sources,
)
from support.history import insert_history
from support.plots import plot_cluster
from support.processes import background, clean_env, wait_ready

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
RESULTS_FILE = BENCH_DIR / "results" / "cluster.json"
INCIDENTS_FILE = BENCH_DIR / "results" / "cluster_incidents.jsonl"
KENGELE = Path(sys.executable).parent / "kengele"
DEFAULT_PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
CLOCK_ENV = "CLUSTER_BENCH_CLOCK_FILE"
HOST = "127.0.0.1"

# Ground truth rules (the contract of issue 4).
BAD_MERGE_KM = 25.0
BAD_MERGE_HOURS = 24.0
SAME_PLACE_KM = 5.0  # two sampled events this close within BAD_MERGE_HOURS could not be told apart: never sampled
REPORT_SPREAD_HOURS = 6.0
REAL_DAYS = 1461  # 2013-01-01 .. 2016-12-31

# Message mix.
LANGUAGES = (("fr", 0.4), ("sg", 0.2), ("ln", 0.2), ("en", 0.2))
HOME_SHARE = 0.2
RETRY_SHARE = 0.05
REPEAT_SHARE = 0.05
REUSE_SHARE = 0.25
ROAD_NAMED_SHARE = 0.5  # offset reports that also name the road ("sur l'axe Ouadda")
LOCATIVE_WEIGHTS = (("at", 0.40), ("description", 0.15), ("misspelled", 0.15), ("near", 0.15), ("offset", 0.15))

# Timeouts (seconds): every wait in the run is bounded.
MESSAGE_TIMEOUT = 15.0
DRAIN_TIMEOUT = 90.0
CLI_TIMEOUT = 300.0
PUSH_BUDGET = 1200.0  # the whole replay; what is left unsent is counted, not waited for
SCALE_SIZES = {"10k": 10_000, "1m": 1_000_000}
WORST_COUNT = 8


# ---------------------------------------------------------------------------------------------- data


@dataclass(frozen=True)
class Event:
    """One true event of the scenario: what every report about it describes."""

    key: str
    origin: str  # ucdp, near (30-60 km from a sampled event within 6 h), later (same place > 48 h after)
    family: str
    lat: float
    lon: float
    place: Place | None
    description: str
    deaths: int
    start: datetime


@dataclass(frozen=True)
class Message:
    """One SMS as the provider posts it, with the truth behind it."""

    at: datetime
    sid: str
    sender: str
    body: str
    event: str
    kind: str  # report, retry (same MessageSid again), repeat (same sender and text, new MessageSid)
    of: str | None = None  # the original MessageSid of a retry or repeat
    locative: str = ""


@dataclass(frozen=True)
class Home:
    """A reporter registered with a home village before the run."""

    phone: str
    lat: float
    lon: float
    place: str | None
    language: str


@dataclass
class Scenario:
    """Everything the run sends, and the truth to score it against."""

    base: datetime
    events: list[Event]
    messages: list[Message] = field(default_factory=list)
    homes: list[Home] = field(default_factory=list)

    def event_by_key(self) -> dict[str, Event]:
        """The events by key."""
        return {event.key: event for event in self.events}


# ------------------------------------------------------------------------------------------ scenario


def simulated_start(day: int, base: datetime, days: float, rng: random.Random) -> datetime:
    """Compress a real day into the simulated span, keeping the order of real dates."""
    slot = days * 86400.0 / REAL_DAYS
    return base + timedelta(seconds=(day + rng.random()) * slot)


def conflicts(lat: float, lon: float, start: datetime, events: list[Event]) -> bool:
    """Whether an event here and then could not be told apart from one already chosen (same place, < 24 h)."""
    window = timedelta(hours=BAD_MERGE_HOURS)
    return any(abs(e.start - start) < window and km(lat, lon, e.lat, e.lon) < SAME_PLACE_KM for e in events)


def sample_events(sources: list[Source], count: int, base: datetime, days: float, rng: random.Random) -> list[Event]:
    """Up to `count` real events, shuffled by the seed, skipping same-place same-day duplicates."""
    pool = list(sources)
    rng.shuffle(pool)
    events: list[Event] = []
    for src in pool:
        start = simulated_start(src.day, base, days, rng)
        if len(events) >= count or conflicts(src.lat, src.lon, start, events):
            continue
        fields = (src.family, src.lat, src.lon, src.place, src.description, src.deaths, start)
        events.append(Event(f"ucdp-{src.id}", "ucdp", *fields))
    return sorted(events, key=lambda e: e.start)


def places_between(lat: float, lon: float, places: list[Place], low_km: float, high_km: float) -> list[Place]:
    """Gazetteer places at a distance in [low_km, high_km]."""
    return [p for p in places if low_km <= km(lat, lon, p.lat, p.lon) <= high_km]


def near_and_later(anchor: Event, places: list[Place], rng: random.Random) -> tuple[Event | None, Event]:
    """A distinct event 30-60 km away within 6 h, and one at the anchor's place more than 48 h later."""
    around = places_between(anchor.lat, anchor.lon, places, 30.0, 60.0)
    near = None
    if around:
        spot = rng.choice(around)
        start = anchor.start + timedelta(hours=rng.uniform(0.5, REPORT_SPREAD_HOURS))
        near = Event(
            f"near-{anchor.key}",
            "near",
            rng.choice(list(TEMPLATES)),
            spot.lat,
            spot.lon,
            spot,
            "",
            rng.randint(1, 12),
            start,
        )
    start = anchor.start + timedelta(hours=rng.uniform(49.0, 72.0))
    later = Event(
        f"later-{anchor.key}",
        "later",
        rng.choice(list(TEMPLATES)),
        anchor.lat,
        anchor.lon,
        anchor.place,
        anchor.description,
        rng.randint(1, 12),
        start,
    )
    return near, later


def add_pairs(events: list[Event], places: list[Place], pairs: int, rng: random.Random) -> list[Event]:
    """Add the deliberate near pairs (30-60 km, < 6 h) and same-place repeats (> 48 h) for `pairs` anchors."""
    anchors = [e for e in events if e.place is not None]
    added: list[Event] = []
    for anchor in rng.sample(anchors, min(pairs, len(anchors))):
        for extra in near_and_later(anchor, places, rng):
            if extra is not None and not conflicts(extra.lat, extra.lon, extra.start, events + added):
                added.append(extra)
    return sorted(events + added, key=lambda e: e.start)


def misspell(name: str, rng: random.Random) -> str:
    """The name with one typing slip (the first letter kept), as people write place names in SMS."""
    if len(name) < 5:
        return name
    i = rng.randrange(1, len(name) - 1)
    slips = (
        name[:i] + name[i + 1 :],
        name[:i] + name[i] + name[i:],
        name[:i] + name[i + 1] + name[i] + name[i + 2 :],
        name.replace("ou", "u", 1) if "ou" in name else name[:-1] + "y" if name.endswith("i") else name + "e",
    )
    return rng.choice(slips)


def weighted(options: tuple[tuple[str, float], ...], rng: random.Random) -> str:
    """One option drawn by weight."""
    return rng.choices([name for name, _ in options], weights=[w for _, w in options])[0]


def offset_phrase(event: Event, lang: str, places: list[Place], rng: random.Random) -> str | None:
    """'12 km from Bria' (on the Ouadda road, half the time): the distance to a known place 5-40 km away.

    People measure from a town everyone knows when there is one, else from a village; and the road they
    name, when they name one, leads from that place towards the event (the next town within 35 degrees).
    """
    around = places_between(event.lat, event.lon, places, 5.0, 40.0)
    towns = [p for p in around if p.kind in ("town", "city")]
    others = towns or [p for p in around if p.kind == "village"]
    if not others:
        return None
    ref = rng.choice(others)
    text = LOCATIVES["offset"][lang].format(k=round(km(event.lat, event.lon, ref.lat, ref.lon)), p=ref.name)
    road = road_towards(ref, event, places) if rng.random() < ROAD_NAMED_SHARE else None
    return f"{text} {LOCATIVES['road'][lang].format(p=road.name)}" if road else text


def road_towards(ref: Place, event: Event, places: list[Place]) -> Place | None:
    """The nearest town beyond the event, seen from `ref` within 35 degrees of the event's bearing."""
    aim = bearing(ref.lat, ref.lon, event.lat, event.lon)
    reach = km(ref.lat, ref.lon, event.lat, event.lon)
    ahead = [
        p for p in places
        if p.kind in ("town", "city") and p.name != ref.name and km(ref.lat, ref.lon, p.lat, p.lon) > reach
        and abs((bearing(ref.lat, ref.lon, p.lat, p.lon) - aim + 180) % 360 - 180) <= 35
    ]  # fmt: skip
    return min(ahead, key=lambda p: km(ref.lat, ref.lon, p.lat, p.lon), default=None)


def bearing(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Initial bearing in degrees from north."""
    p1, p2, dl = math.radians(lat1), math.radians(lat2), math.radians(lon2 - lon1)
    y = math.sin(dl) * math.cos(p2)
    return math.degrees(math.atan2(y, math.cos(p1) * math.sin(p2) - math.sin(p1) * math.cos(p2) * math.cos(dl))) % 360


def locative(event: Event, lang: str, places: list[Place], rng: random.Random) -> tuple[str, str]:
    """Where the reporter says it happened, and which way of saying it was used."""
    how = weighted(LOCATIVE_WEIGHTS, rng)
    described = bool(event.description) and len(event.description) <= 80 and lang in ("fr", "en")
    if event.place is None or (how == "description" and described):
        return LOCATIVES["at"][lang].format(p=event.description), "description"
    if how == "offset" and (phrase := offset_phrase(event, lang, places, rng)):
        return phrase, how
    if how == "misspelled":
        return LOCATIVES["at"][lang].format(p=misspell(event.place.name, rng)), how
    if how == "near":
        return LOCATIVES["near"][lang].format(p=event.place.name), how
    return LOCATIVES["at"][lang].format(p=event.place.name), "at"


def compose(event: Event, lang: str, loc: str, rng: random.Random) -> str:
    """The SMS text: a template of the event's family in the language, with the place and a death toll."""
    return compose_text(event.family, event.deaths, lang, loc, rng)


class Senders:
    """Fictitious +2367… numbers, never the same twice, and the reporters already seen at each place."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.numbers = iter(rng.sample(range(100_000, 1_000_000), 200_000))
        self.by_place: dict[str, list[str]] = defaultdict(list)
        self.homes_by_place: dict[str, list[Home]] = defaultdict(list)

    def fresh(self) -> str:
        """A number never used before."""
        return f"+23675{next(self.numbers):06d}"

    def pick(self, spot: str, taken: set[str]) -> str:
        """A reporter for this place: sometimes one who reported here before, else a new one."""
        known = [phone for phone in self.by_place[spot] if phone not in taken]
        phone = self.rng.choice(known) if known and self.rng.random() < REUSE_SHARE else self.fresh()
        if phone not in self.by_place[spot]:
            self.by_place[spot].append(phone)
        return phone

    def home(self, event: Event, lang: str, taken: set[str], homes: list[Home]) -> Home:
        """A reporter registered with a home at (within 2 km of) the event's place, reused when possible."""
        spot = spot_key(event)
        known = [h for h in self.homes_by_place[spot] if h.phone not in taken]
        if known:
            return self.rng.choice(known)
        lat = event.lat + self.rng.uniform(-0.012, 0.012)
        lon = event.lon + self.rng.uniform(-0.012, 0.012)
        home = Home(self.fresh(), lat, lon, event.place.name if event.place else None, lang)
        self.homes_by_place[spot].append(home)
        homes.append(home)
        return home


def spot_key(event: Event) -> str:
    """A key for 'the same place' (about 1 km)."""
    return f"{event.lat:.2f},{event.lon:.2f}"


def new_sid(rng: random.Random) -> str:
    """A Twilio-shaped MessageSid."""
    return f"SM{rng.getrandbits(128):032x}"


def event_reports(event: Event, scenario: Scenario, places: list[Place], senders: Senders, rng: random.Random) -> None:
    """2-8 reports of one event by distinct reporters over up to 6 h, with their retries and repeats."""
    count = rng.randint(2, 8)
    offsets = sorted([rng.uniform(0, 0.5)] + [rng.uniform(0, REPORT_SPREAD_HOURS) for _ in range(count - 1)])
    taken: set[str] = set()
    for hours in offsets:
        lang = weighted(LANGUAGES, rng)
        if rng.random() < HOME_SHARE:
            sender, (loc, how) = (
                senders.home(event, lang, taken, scenario.homes).phone,
                (LOCATIVES["home"][lang], "home"),
            )
        else:
            sender, (loc, how) = senders.pick(spot_key(event), taken), locative(event, lang, places, rng)
        taken.add(sender)
        at = event.start + timedelta(hours=hours)
        report = Message(at, new_sid(rng), sender, compose(event, lang, loc, rng), event.key, "report", None, how)
        scenario.messages.append(report)
        add_duplicates(report, scenario, rng)


def add_duplicates(report: Message, scenario: Scenario, rng: random.Random) -> None:
    """Sometimes the provider retries the same MessageSid; sometimes the sender sends the same text again."""
    if rng.random() < RETRY_SHARE:
        at = report.at + timedelta(seconds=rng.uniform(2, 90))
        scenario.messages.append(Message(at, report.sid, report.sender, report.body, report.event, "retry", report.sid))
    if rng.random() < REPEAT_SHARE:
        at = report.at + timedelta(seconds=rng.uniform(60, 600))
        repeat = Message(at, new_sid(rng), report.sender, report.body, report.event, "repeat", report.sid)
        scenario.messages.append(repeat)


def build_scenario(
    sources: list[Source], places: list[Place], *, events: int, pairs: int, days: float, seed: int, base: datetime
) -> Scenario:
    """The whole scenario for a seed: events, then their reports interleaved by arrival time."""
    rng = random.Random(seed)
    chosen = add_pairs(sample_events(sources, events, base, days, rng), places, pairs, rng)
    scenario = Scenario(base, chosen)
    senders = Senders(rng)
    for event in chosen:
        event_reports(event, scenario, places, senders, rng)
    scenario.messages.sort(key=lambda m: m.at)
    return scenario


def close_pairs(events: list[Event]) -> int:
    """Pairs of distinct events < 25 km and < 24 h apart: they must stay apart, and are hard to."""
    window = timedelta(hours=BAD_MERGE_HOURS)
    return sum(
        1
        for a, b in combinations(events, 2)
        if abs(a.start - b.start) < window and km(a.lat, a.lon, b.lat, b.lon) < BAD_MERGE_KM
    )


# ------------------------------------------------------------------------------------------- metrics


def pair_count(n: int) -> int:
    """n choose 2."""
    return n * (n - 1) // 2


def ratio(num: float, den: float, empty: float = 1.0) -> float:
    """num/den, or `empty` when there is nothing to divide."""
    return num / den if den else empty


def f1(p: float, r: float) -> float:
    """Harmonic mean."""
    return 2 * p * r / (p + r) if p + r else 0.0


def pairwise(truth: dict[str, str], pred: dict[str, str]) -> tuple[float, float, float]:
    """Pairwise precision, recall, F1 over the items of `truth` (pred: item -> cluster)."""
    cells = Counter((truth[item], pred[item]) for item in truth)
    both = sum(pair_count(n) for n in cells.values())
    same_pred = sum(pair_count(n) for n in Counter(pred[item] for item in truth).values())
    same_true = sum(pair_count(n) for n in Counter(truth.values()).values())
    p, r = ratio(both, same_pred), ratio(both, same_true)
    return p, r, f1(p, r)


def bcubed(truth: dict[str, str], pred: dict[str, str]) -> tuple[float, float, float]:
    """B-cubed precision, recall, F1 over the items of `truth`."""
    cells = Counter((truth[item], pred[item]) for item in truth)
    pred_sizes = Counter(pred[item] for item in truth)
    true_sizes = Counter(truth.values())
    p = statistics.fmean(cells[truth[i], pred[i]] / pred_sizes[pred[i]] for i in truth) if truth else 1.0
    r = statistics.fmean(cells[truth[i], pred[i]] / true_sizes[truth[i]] for i in truth) if truth else 1.0
    return p, r, f1(p, r)


def assignment(incidents: list[dict[str, Any]]) -> tuple[dict[str, str], list[str]]:
    """MessageSid -> incident ref from the incidents listing, and the sids listed under more than one incident."""
    owner: dict[str, str] = {}
    twice: list[str] = []
    live = sorted(incidents, key=lambda inc: inc.get("status") == "merged")  # merged shells last
    for incident in live:
        for sid in incident.get("message_ids") or []:
            if sid in owner:
                twice.append(sid)
            else:
                owner[sid] = incident["ref"]
    return owner, twice


def split_apart(a: Event, b: Event) -> bool:
    """Whether two events are > 25 km or > 24 h apart: merging them is a bad merge."""
    hours = abs((a.start - b.start).total_seconds()) / 3600
    return hours > BAD_MERGE_HOURS or km(a.lat, a.lon, b.lat, b.lon) > BAD_MERGE_KM


def merged_events(scenario: Scenario, owner: dict[str, str]) -> dict[str, set[str]]:
    """Incident ref -> true events of the reports (and repeats) it holds."""
    found: dict[str, set[str]] = defaultdict(set)
    for message in scenario.messages:
        if message.kind != "retry" and message.sid in owner:
            found[owner[message.sid]].add(message.event)
    return found


def merge_faults(scenario: Scenario, owner: dict[str, str]) -> tuple[list[str], list[str]]:
    """Incidents mixing events: (bad merges: events > 25 km or > 24 h apart, close merges: the others)."""
    events = scenario.event_by_key()
    bad, close = [], []
    for ref, keys in merged_events(scenario, owner).items():
        if len(keys) > 1:
            pairs = combinations(sorted(keys), 2)
            (bad if any(split_apart(events[a], events[b]) for a, b in pairs) else close).append(ref)
    return sorted(bad), sorted(close)


def majority(messages: list[Message], key: Callable[[Message], str]) -> str:
    """The most common key among messages (first seen wins a tie)."""
    return Counter(key(m) for m in messages).most_common(1)[0][0]


def strays(scenario: Scenario, owner: dict[str, str], rows: dict[str, dict[str, Any]]) -> dict[str, dict[str, int]]:
    """Reports off their event's main incident, and intruders in bad merges, by how their place was written."""
    events = scenario.event_by_key()
    reports = [m for m in scenario.messages if m.kind == "report"]
    main = {
        key: majority(group, lambda m: owner.get(m.sid, m.sid))
        for key, group in group_by(reports, lambda m: m.event).items()
    }
    held = group_by([m for m in reports if m.sid in owner], lambda m: owner[m.sid])
    bad = set(merge_faults(scenario, owner)[0])
    top = {ref: majority(group, lambda m: m.event) for ref, group in held.items() if ref in bad}
    outliers = [m for m in reports if owner.get(m.sid, m.sid) != main[m.event]]
    intruders = [m for m in reports if owner.get(m.sid) in top and m.event != top[owner[m.sid]]]
    return {
        "split_outliers_by_locative": dict(Counter(m.locative for m in outliers)),
        "bad_merge_intruders_by_locative": dict(Counter(m.locative for m in intruders)),
        "bad_merge_intruders_mislocated": sum(mislocated(m, events[m.event], rows) for m in intruders),
    }


def mislocated(message: Message, event: Event, rows: dict[str, dict[str, Any]]) -> bool:
    """Whether the server placed the report more than 25 km from where its event happened (or nowhere)."""
    row = rows.get(message.sid) or {}
    return row.get("lat") is None or km(row["lat"], row["lon"], event.lat, event.lon) > BAD_MERGE_KM


def repeat_faults(scenario: Scenario, owner: dict[str, str]) -> int:
    """Same-sender repeats placed in another incident than the report they repeat."""
    return sum(
        1
        for m in scenario.messages
        if m.kind == "repeat" and m.sid in owner and owner.get(m.of or "") not in (None, owner[m.sid])
    )


def evaluate(scenario: Scenario, incidents: list[dict[str, Any]]) -> dict[str, Any]:
    """Every clustering figure of one run."""
    owner, twice = assignment(incidents)
    reports = [m for m in scenario.messages if m.kind == "report"]
    truth = {m.sid: m.event for m in reports}
    pred = {sid: owner.get(sid, f"unclustered:{sid}") for sid in truth}
    bad, close = merge_faults(scenario, owner)
    ours = {owner[m.sid] for m in scenario.messages if m.sid in owner}
    splits = Counter(len({pred[m.sid] for m in reports if m.event == e.key}) > 1 for e in scenario.events)
    pp, pr, pf = pairwise(truth, pred)
    bp, br, bf = bcubed(truth, pred)
    return {
        "pairwise_precision": pp,
        "pairwise_recall": pr,
        "pairwise_f1": pf,
        "bcubed_precision": bp,
        "bcubed_recall": br,
        "bcubed_f1": bf,
        "events": len(scenario.events),
        "incidents": len(ours),
        "bad_merges": len(bad),
        "close_merges": len(close),
        "split_events": splits[True],
        "unclustered_reports": sum(sid not in owner for sid in truth),
        "repeat_faults": repeat_faults(scenario, owner),
        "sids_listed_twice": len(twice),
        "reports": len(reports),
        "bad_merge_refs": bad,
        "close_merge_refs": close,
    }


# ------------------------------------------------------------------------------------------ diagnosis


def describe_incident(ref: str, scenario: Scenario, owner: dict[str, str], rows: dict[str, dict[str, Any]]) -> str:
    """One incident's true events and the reports behind it, for the worst-incidents listing."""
    events = scenario.event_by_key()
    members = [m for m in scenario.messages if m.kind != "retry" and owner.get(m.sid) == ref]
    lines = [f"  {ref}: {len(members)} reports of {len({m.event for m in members})} events"]
    for key, group in sorted(group_by(members, lambda m: m.event).items()):
        e = events[key]
        hours = (e.start - scenario.base).total_seconds() / 3600
        place = e.place.name if e.place else e.description[:30]
        lines.append(f"    {key} ({e.family}, {place}, {e.lat:.3f},{e.lon:.3f}, t+{hours:.1f} h): {len(group)} reports")
        lines += [f"      {located(m, e, rows)}  {m.body[:70]}" for m in group[:4]]
    return "\n".join(lines)


def located(message: Message, event: Event, rows: dict[str, dict[str, Any]]) -> str:
    """How the server located and categorised one report, and how far that is from the truth."""
    row = rows.get(message.sid)
    if not row or row.get("lat") is None:
        return f"[{(row or {}).get('location_method') or 'no row'}]"
    error = km(row["lat"], row["lon"], event.lat, event.lon)
    return f"[{row['category']}, {row['location_method']}, {error:.0f} km off, ±{(row['precision_m'] or 0) / 1000:.0f}]"


def group_by(items: list[Message], key: Callable[[Message], str]) -> dict[str, list[Message]]:
    """Items grouped by a key, order kept."""
    groups: dict[str, list[Message]] = defaultdict(list)
    for item in items:
        groups[key(item)].append(item)
    return groups


def worst_splits(scenario: Scenario, owner: dict[str, str], rows: dict[str, dict[str, Any]]) -> list[str]:
    """The events spread over the most incidents (or left unclustered), described."""
    by_event = group_by([m for m in scenario.messages if m.kind == "report"], lambda m: m.event)
    spread = sorted(by_event.items(), key=lambda kv: -len({owner.get(m.sid, m.sid) for m in kv[1]}))
    events = scenario.event_by_key()
    out = []
    for key, members in spread[:WORST_COUNT]:
        refs = {owner.get(m.sid, "-") for m in members}
        if len(refs) < 2 and "-" not in refs:
            break
        out.append(f"  {key}: {len(members)} reports in {sorted(refs)}")
        out += [f"      {owner.get(m.sid, '-'):>8} {located(m, events[key], rows)}  {m.body[:60]}" for m in members]
    return out


def locator_summary(scenario: Scenario, rows: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """How well the reports were located and categorised: the input clustering had to work with."""
    events = scenario.event_by_key()
    reports = [m for m in scenario.messages if m.kind == "report" and m.sid in rows]
    errors = [
        km(rows[m.sid]["lat"], rows[m.sid]["lon"], events[m.event].lat, events[m.event].lon)
        for m in reports
        if rows[m.sid].get("lat") is not None
    ]
    violent = [m for m in reports if rows[m.sid].get("category") not in (None, "other")]
    return {
        "located_share": ratio(len(errors), len(reports), 0.0),
        "within_5km_share": ratio(sum(e <= 5 for e in errors), len(reports), 0.0),
        "within_25km_share": ratio(sum(e <= 25 for e in errors), len(reports), 0.0),
        "violence_category_share": ratio(len(violent), len(reports), 0.0),
        "methods": dict(Counter(rows[m.sid].get("location_method") for m in reports)),
    }


# --------------------------------------------------------------------------------------------- clock


class SimClock:
    """The simulated time, shared with the server through a file: 'sim_epoch real_epoch' (then it runs on)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._stamp: tuple[int, float, float] | None = None

    def set(self, at: datetime) -> None:
        """Make the simulated time `at` now (atomically), never going backwards."""
        target = max(at.timestamp(), self.epoch()) if self.path.exists() else at.timestamp()
        temp = self.path.with_suffix(".tmp")
        temp.write_text(f"{target!r} {time.time()!r}")
        os.replace(temp, self.path)

    def epoch(self) -> float:
        """The simulated time in Unix seconds (real time until it is first set)."""
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            return time.time()
        if self._stamp is None or self._stamp[0] != stat.st_mtime_ns:
            sim, real = (float(part) for part in self.path.read_text().split())
            self._stamp = (stat.st_mtime_ns, sim, real)
        return self._stamp[1] + time.time() - self._stamp[2]

    def now(self) -> datetime:
        """The simulated time, timezone-aware UTC (what app.core.clock.utcnow returns in the server)."""
        return datetime.fromtimestamp(self.epoch(), UTC)


def run_clocked(argv: list[str]) -> int:
    """Run a kengele command with app.core.clock.utcnow reading the simulated clock."""
    from app.core import clock

    original = clock.utcnow
    clock.utcnow = SimClock(Path(os.environ[CLOCK_ENV])).now
    for module in list(sys.modules.values()):  # modules imported before the patch bound the original
        if getattr(module, "utcnow", None) is original:
            module.utcnow = clock.utcnow  # type: ignore[attr-defined]
    from app.cli import cli

    cli(argv, prog_name="kengele")
    return 0


# -------------------------------------------------------------------------------------------- server


def clocked(args: list[str]) -> list[str]:
    """The command line of a kengele command under the simulated clock."""
    return [sys.executable, str(Path(__file__).resolve()), "_clocked", *args]


@contextlib.contextmanager
def serving(env: dict[str, str], workdir: Path) -> Iterator[str]:
    """A Kengele server under the simulated clock; yields its base URL."""
    port = free_port()
    base_url = f"http://{HOST}:{port}"
    with background(clocked(["serve", "--host", HOST, "--port", str(port)]), env, workdir, "server") as server:
        wait_ready(server, base_url + "/readyz")
        yield base_url


def run_cli(args: list[str], env: dict[str, str], workdir: Path, *, under_clock: bool = False) -> str:
    """Run one kengele command to completion (bounded); return its stdout, fail with its stderr."""
    command = clocked(args) if under_clock else [str(KENGELE), *args]
    done = subprocess.run(command, cwd=workdir, env=env, capture_output=True, text=True, timeout=CLI_TIMEOUT)
    if done.returncode != 0:
        raise RuntimeError(f"kengele {' '.join(args)} exited {done.returncode}:\n{done.stderr[-3000:]}")
    return done.stdout


def incidents_available() -> bool:
    """Whether `kengele incidents --help` works in this checkout yet."""
    done = subprocess.run([str(KENGELE), "incidents", "--help"], capture_output=True, text=True, timeout=60)
    return done.returncode == 0


# ------------------------------------------------------------------------------------------ database


def server_env(url: str, workdir: Path, clock: SimClock, *, embedded_worker: bool) -> dict[str, str]:
    """The Kengele settings of one run: production mode, explicit secrets, fast worker, short retries."""
    return clean_env(
        {
            "KENGELE_MODE": "production",
            "KENGELE_DATABASE_URL": url,
            "KENGELE_DATA_DIR": str(workdir / "data"),
            "KENGELE_SECRET_KEY": secrets.token_urlsafe(48),
            "KENGELE_TWILIO_AUTH_TOKEN": secrets.token_hex(16),
            "KENGELE_EMBEDDED_WORKER": "true" if embedded_worker else "false",
            "KENGELE_WORKER_POLL_SECONDS": "0.05",
            "KENGELE_RETRY_SCHEDULE_SECONDS": "[1,2,5]",
            "KENGELE_LOG_LEVEL": "WARNING",
            CLOCK_ENV: str(clock.path),
        }
    )


def register_homes(env: dict[str, str], homes: list[Home]) -> None:
    """Register the home-village reporters as the worker would, with the server's secret."""
    from app.core.config import Settings
    from app.core.db import make_engine, make_sessionmaker, transaction
    from app.reporters import service as reporters
    from app.security.crypto import Vault
    from app.security.keys import load_keys

    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        mode=env["KENGELE_MODE"],
        database_url=env["KENGELE_DATABASE_URL"],
        secret_key=env["KENGELE_SECRET_KEY"],
    )
    vault, engine = Vault(load_keys(settings)), make_engine(settings)
    try:
        with transaction(make_sessionmaker(engine)) as session:
            for home in homes:
                identity = reporters.phone_identity(vault, home.phone)
                reporter = reporters.get_or_create(
                    session=session, vault=vault, identity_hash=identity, phone=home.phone
                )
                reporter.home_lat, reporter.home_lon, reporter.home_place = home.lat, home.lon, home.place
                reporter.language = home.language
    finally:
        engine.dispose()


def prepare(env: dict[str, str], scenario: Scenario, workdir: Path) -> None:
    """Load the demo gazetteer and register the home reporters."""
    run_cli(["import-places", str(GAZETTEER)], env, workdir)
    register_homes(env, scenario.homes)


def scalar(engine: Any, sql: str) -> Any:
    """One value from one query."""
    from sqlalchemy import text

    with engine.connect() as connection:
        return connection.execute(text(sql)).scalar()


def wait_until(engine: Any, sql: str, timeout: float, pause: float = 0.01) -> bool:
    """Poll a count query until it is 0; False when the deadline passed first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not scalar(engine, sql):
            return True
        time.sleep(pause)
    return False


UNTRIED = "SELECT count(*) FROM inbound_message WHERE processed_at IS NULL AND attempts = 0"
UNPROCESSED = "SELECT count(*) FROM inbound_message WHERE processed_at IS NULL"


def report_rows(engine: Any) -> dict[str, dict[str, Any]]:
    """What the worker made of each MessageSid: category, location and method."""
    from sqlalchemy import text

    sql = text(
        "SELECT m.external_id, r.category, r.lat, r.lon, r.precision_m, r.location_method "
        "FROM report r JOIN inbound_message m ON m.id = r.inbound_message_id WHERE m.external_id NOT LIKE 'SMhist%'"
    )
    with engine.connect() as connection:
        return {row[0]: dict(row._mapping) for row in connection.execute(sql)}


# -------------------------------------------------------------------------------------------- pushing


def signed_post(client: Any, url: str, token: str, message: Message) -> int:
    """POST one message as Twilio would (signed against the exact URL); return the HTTP status."""
    from app.intake.simulate import twilio_sms_form
    from app.security.signatures import sign_twilio

    form = twilio_sms_form(message_sid=message.sid, sender=message.sender, body=message.body)
    signature = sign_twilio(auth_token=token, url=url, params=form)
    return client.post(url, data=form, headers={"X-Twilio-Signature": signature}).status_code


def push(messages: list[Message], base_url: str, env: dict[str, str], clock: SimClock, engine: Any | None) -> Counter:
    """Send every message in arrival order at its simulated time; with `engine`, wait for each to be processed."""
    import httpx

    url, token = base_url + "/twilio/sms", env["KENGELE_TWILIO_AUTH_TOKEN"]
    statuses: Counter[str] = Counter()
    deadline = time.monotonic() + PUSH_BUDGET
    with httpx.Client(timeout=30.0) as client:
        for sent, message in enumerate(messages):
            if time.monotonic() > deadline:
                statuses["not_sent_push_budget_over"] += len(messages) - sent
                break
            clock.set(message.at)
            try:
                statuses[str(signed_post(client, url, token, message))] += 1
            except httpx.HTTPError as exc:
                statuses[type(exc).__name__] += 1
            if engine is not None and not wait_until(engine, UNTRIED, MESSAGE_TIMEOUT):
                statuses["not_processed_in_time"] += 1
    return statuses


@dataclass
class Outcome:
    """What one run produced."""

    incidents: list[dict[str, Any]] | None
    rows: dict[str, dict[str, Any]]
    statuses: Counter
    inbox_rows: int
    failed_rows: int
    push_seconds: float


def read_incidents(env: dict[str, str], workdir: Path, status: str | None = None) -> list[dict[str, Any]] | None:
    """`kengele incidents --json` as a list of objects (None while the command does not exist)."""
    if not incidents_available():
        return None
    out = run_cli(["incidents", "--json", *(["--status", status] if status else [])], env, workdir, under_clock=True)
    return [json.loads(line) for line in out.splitlines() if line.strip().startswith("{")]


def collect(
    engine: Any,
    env: dict[str, str],
    workdir: Path,
    statuses: Counter,
    seconds: float,
    *,
    drain_timeout: float = DRAIN_TIMEOUT,
    status: str | None = None,
) -> Outcome:
    """Read back the incidents and the per-report facts once the inbox is drained (or the wait is over)."""
    drained = wait_until(engine, UNPROCESSED, drain_timeout, pause=0.1)
    failed = 0 if drained else scalar(engine, UNPROCESSED)
    return Outcome(
        read_incidents(env, workdir, status),
        report_rows(engine),
        statuses,
        scalar(engine, "SELECT count(*) FROM inbound_message"),
        failed,
        seconds,
    )


def quality_run(args: argparse.Namespace, scenario: Scenario, workdir: Path) -> Outcome:
    """Replay the scenario in lockstep through a fresh server (embedded worker) and read the result."""
    from sqlalchemy import create_engine

    clock = SimClock(workdir / "clock")
    clock.set(scenario.base - timedelta(hours=1))
    with fresh_database(args.database, args.postgres, workdir) as url:
        env = server_env(url, workdir, clock, embedded_worker=True)
        prepare(env, scenario, workdir)
        engine = create_engine(url)
        try:
            with serving(env, workdir) as base_url:
                started = time.perf_counter()
                statuses = push(scenario.messages, base_url, env, clock, engine if args.lockstep else None)
                seconds = time.perf_counter() - started
                wait_until(engine, UNPROCESSED, DRAIN_TIMEOUT, pause=0.1)
            return collect(engine, env, workdir, statuses, seconds)
        finally:
            engine.dispose()


# ---------------------------------------------------------------------------------------------- scale


def batch_ms_per_report(engine: Any, sids: list[str]) -> float | None:
    """Processing time per report of the batch: the span of its processed_at stamps over the reports after the first."""
    from sqlalchemy import bindparam, text

    sql = text(
        "SELECT min(processed_at), max(processed_at), count(*) FROM inbound_message "
        "WHERE external_id IN :sids AND processed_at IS NOT NULL"
    ).bindparams(bindparam("sids", expanding=True))
    with engine.connect() as connection:
        first, last, count = connection.execute(sql, {"sids": sids}).one()
    return None if count < 2 else (last - first).total_seconds() * 1000 / (count - 1)


def scale_run(args: argparse.Namespace, scenario: Scenario, workdir: Path, size: int) -> dict[str, Any]:
    """Push the batch into the inbox of a database holding `size` historical reports, then time one worker on it."""
    from sqlalchemy import create_engine

    clock = SimClock(workdir / f"clock-{size}")
    clock.set(scenario.base - timedelta(hours=1))
    with fresh_database("postgres", args.postgres, workdir) as url:
        env = server_env(url, workdir, clock, embedded_worker=False)
        prepare(env, scenario, workdir)
        engine = create_engine(url)
        try:
            insert_seconds = insert_history(engine, size, scenario.base, args.closed_status)
            print(f"- scale {size:,}: history inserted in {insert_seconds:.0f} s", flush=True)
            with serving(env, workdir) as base_url:
                statuses = push(scenario.messages, base_url, env, clock, None)
            return time_processing(engine, env, workdir, scenario, statuses, size)
        finally:
            engine.dispose()


def time_processing(
    engine: Any, env: dict[str, str], workdir: Path, scenario: Scenario, statuses: Counter, size: int
) -> dict[str, Any]:
    """Start the server with its embedded worker on the pushed batch; time it until processed; score it."""
    # The embedded worker, not `kengele worker`: at c229c7f the separate worker fails every row with
    # NoReferencedTableError (it never imports app.partners.models). No yield between batches: only work is timed.
    busy = {**env, "KENGELE_EMBEDDED_WORKER": "true", "KENGELE_EMBEDDED_WORKER_YIELD_SECONDS": "0"}
    budget = max(DRAIN_TIMEOUT, 2.0 * len(scenario.messages))
    started = time.perf_counter()
    with serving(busy, workdir):
        drained = wait_until(engine, UNPROCESSED, budget, pause=0.1)
    wall = time.perf_counter() - started
    outcome = collect(engine, env, workdir, statuses, wall, drain_timeout=0.0, status="open")
    figures = evaluate(scenario, outcome.incidents) if outcome.incidents is not None else {}
    return {
        "size": size,
        "drained": drained,
        "failed_rows": outcome.failed_rows,
        "wall_s_with_startup": round(wall, 1),
        "ms_per_report": batch_ms_per_report(engine, sorted({m.sid for m in scenario.messages})),
        "statuses": dict(statuses),
        "pairwise_f1": rounded(figures.get("pairwise_f1")),
        "bad_merges": figures.get("bad_merges"),
    }


# ---------------------------------------------------------------------------------------------- report


def rounded(value: float | None, digits: int = 3) -> float | None:
    """Round for the record, keeping None."""
    return None if value is None else round(value, digits)


def integrity(scenario: Scenario, outcome: Outcome) -> dict[str, Any]:
    """Retries must store nothing; every distinct MessageSid becomes one inbox row and one report."""
    unique = len({m.sid for m in scenario.messages})
    return {
        "messages_sent": len(scenario.messages),
        "retries": sum(m.kind == "retry" for m in scenario.messages),
        "repeats": sum(m.kind == "repeat" for m in scenario.messages),
        "distinct_sids": unique,
        "inbox_rows": outcome.inbox_rows,
        "report_rows": len(outcome.rows),
        "failed_rows": outcome.failed_rows,
        "http_statuses": dict(outcome.statuses),
    }


def build_record(
    args: argparse.Namespace, scenario: Scenario, outcome: Outcome, scale: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    """The flat JSON record of the run."""
    figures = evaluate(scenario, outcome.incidents) if outcome.incidents is not None else {}
    keys = ("pairwise_precision", "pairwise_recall", "pairwise_f1", "bcubed_precision", "bcubed_recall", "bcubed_f1")
    record: dict[str, Any] = {key: rounded(figures.get(key)) for key in keys}
    record["events"] = len(scenario.events)
    for key in (
        "incidents",
        "bad_merges",
        "close_merges",
        "split_events",
        "unclustered_reports",
        "repeat_faults",
        "sids_listed_twice",
    ):
        record[key] = figures.get(key)
    record["reports"] = sum(m.kind == "report" for m in scenario.messages)
    ms = {label: run.get("ms_per_report") for label, run in scale.items()}
    record["ms_per_report_10k"], record["ms_per_report_1m"] = rounded(ms.get("10k"), 2), rounded(ms.get("1m"), 2)
    both = ms.get("10k") and ms.get("1m")
    record["scale_ratio"] = round(ms["1m"] / ms["10k"], 3) if both else None
    record["incidents_command"] = outcome.incidents is not None
    record["close_event_pairs"] = close_pairs(scenario.events)
    record["integrity"] = integrity(scenario, outcome)
    if outcome.incidents is not None:
        record["strays"] = strays(scenario, assignment(outcome.incidents)[0], outcome.rows)
    record["locator"] = {
        k: rounded(v) if isinstance(v, float) else v for k, v in locator_summary(scenario, outcome.rows).items()
    }
    record["scale_runs"] = scale
    record["settings"] = {
        "events": args.events,
        "seed": args.seed,
        "days": args.days,
        "pairs": args.pairs,
        "database": args.database,
        "lockstep": args.lockstep,
    }
    record["push_seconds"] = round(outcome.push_seconds, 1)
    record["machine"] = {
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
    }
    record["date"] = datetime.now(UTC).isoformat(timespec="seconds")
    return record


def print_table(record: dict[str, Any]) -> None:
    """A human-readable summary of the record."""

    def cell(value: Any) -> str:
        return "-" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)

    rows = [
        (
            "pairwise precision / recall / F1",
            [record["pairwise_precision"], record["pairwise_recall"], record["pairwise_f1"]],
        ),
        ("B-cubed precision / recall / F1", [record["bcubed_precision"], record["bcubed_recall"], record["bcubed_f1"]]),
        ("events / incidents / reports", [record["events"], record["incidents"], record["reports"]]),
        (
            "bad merges / close merges / split events",
            [record["bad_merges"], record["close_merges"], record["split_events"]],
        ),
        (
            "unclustered reports / repeat faults / sids twice",
            [record["unclustered_reports"], record["repeat_faults"], record["sids_listed_twice"]],
        ),
        ("close event pairs in scenario (<25 km, <24 h)", [record["close_event_pairs"]]),
        (
            "ms per report at 10k / 1M / ratio",
            [record["ms_per_report_10k"], record["ms_per_report_1m"], record["scale_ratio"]],
        ),
    ]
    print()
    for label, values in rows:
        print(f"{label:<52} {'  '.join(cell(v) for v in values)}")
    print(f"{'integrity':<52} {json.dumps(record['integrity'])}")
    print(f"{'locator (input to clustering)':<52} {json.dumps(record['locator'])}")
    print(f"{'strays (by how the place was written)':<52} {json.dumps(record.get('strays'))}")
    print()


def write_incidents(scenario: Scenario, outcome: Outcome) -> None:
    """The quality run's incidents, each with the true events of its reports, for debugging."""
    if outcome.incidents is None:
        return
    event_of = {m.sid: m.event for m in scenario.messages}
    with INCIDENTS_FILE.open("w", encoding="utf-8") as out:
        for incident in outcome.incidents:
            truth = Counter(event_of.get(sid, "?") for sid in incident.get("message_ids") or [])
            out.write(json.dumps({**incident, "true_events": dict(truth)}, ensure_ascii=False) + "\n")


def print_worst(scenario: Scenario, outcome: Outcome) -> None:
    """The worst incidents (bad merges first, then close merges) and the most split events."""
    if outcome.incidents is None:
        return
    owner, _ = assignment(outcome.incidents)
    bad, close = merge_faults(scenario, owner)
    if bad or close:
        print("worst incidents (mixing true events; bad merges first):")
        for ref in (bad + close)[:WORST_COUNT]:
            print(describe_incident(ref, scenario, owner, outcome.rows))
    split = worst_splits(scenario, owner, outcome.rows)
    if split:
        print("most split events (incident per report, '-' = in no incident):")
        print("\n".join(split))


# ----------------------------------------------------------------------------------------------- self-test


def check(results: list[str], name: str, condition: bool) -> None:
    """Record one self-test check."""
    results.append(("ok   " if condition else "FAIL ") + name)


def metric_checks(results: list[str]) -> None:
    """Pairwise and B-cubed figures on a hand-made clustering, computed by hand."""
    truth = {"1": "a", "2": "a", "3": "a", "4": "b", "5": "b"}
    pred = {"1": "X", "2": "X", "3": "Y", "4": "Y", "5": "Y"}
    p, r, f = pairwise(truth, pred)
    check(results, "pairwise on hand-made clustering is 0.5/0.5/0.5", (p, r, f) == (0.5, 0.5, 0.5))
    bp, br, bf = bcubed(truth, pred)
    close_to = math.isclose(bp, 11 / 15) and math.isclose(br, 11 / 15) and math.isclose(bf, 11 / 15)
    check(results, "B-cubed on hand-made clustering is 11/15 each", close_to)
    check(results, "perfect clustering scores 1", pairwise(truth, truth) == (1.0, 1.0, 1.0) == bcubed(truth, truth))
    singletons = {item: item for item in truth}
    check(results, "all singletons: precision 1, recall 0", pairwise(truth, singletons)[:2] == (1.0, 0.0))


def hand_scenario() -> Scenario:
    """Three events (two 40 km apart at the same time, one 50 h later) and five reports, for the merge checks."""
    base = datetime(2026, 1, 1, tzinfo=UTC)
    events = [
        Event("a", "ucdp", "attack", 5.0, 20.0, None, "A", 1, base),
        Event("b", "near", "attack", 5.36, 20.0, None, "B", 1, base + timedelta(hours=1)),
        Event("c", "later", "attack", 5.0, 20.0, None, "C", 1, base + timedelta(hours=50)),
        Event("d", "ucdp", "attack", 5.1, 20.0, None, "D", 1, base + timedelta(hours=2)),
    ]
    messages = [Message(base, f"s{i}", f"+2367500000{i}", "x", key, "report") for i, key in enumerate("aabcd")]
    messages.append(Message(base, "s5", "+23675000000", "x", "a", "repeat", "s0"))
    return Scenario(base, events, messages)


def merge_checks(results: list[str]) -> None:
    """Bad merges (> 25 km or > 24 h), close merges and repeat faults on a hand-made scenario."""
    scenario = hand_scenario()
    incidents = [{"ref": "K-1", "message_ids": ["s0", "s1", "s4"]}, {"ref": "K-2", "message_ids": ["s2", "s3", "s5"]}]
    bad, close = merge_faults(scenario, assignment(incidents)[0])
    check(
        results,
        "40 km apart and 50 h apart are bad merges, 11 km/2 h is a close merge",
        (bad, close) == (["K-2"], ["K-1"]),
    )
    check(
        results,
        "a repeat in another incident than its original is a fault",
        repeat_faults(scenario, assignment(incidents)[0]) == 1,
    )
    figures = evaluate(scenario, incidents)
    check(
        results,
        "evaluate counts 4 events, 2 incidents, 5 reports",
        (figures["events"], figures["incidents"], figures["reports"]) == (4, 2, 5),
    )
    clean = [
        {"ref": "K-1", "message_ids": ["s0", "s1", "s5"]},
        {"ref": "K-2", "message_ids": ["s2"]},
        {"ref": "K-3", "message_ids": ["s3"]},
        {"ref": "K-4", "message_ids": ["s4"]},
    ]
    figures = evaluate(scenario, clean)
    check(
        results,
        "the true clustering scores F1 1 with no faults",
        figures["pairwise_f1"] == 1.0 and figures["bad_merges"] == 0 and figures["repeat_faults"] == 0,
    )


def scenario_checks(results: list[str], sources: list[Source], places: list[Place]) -> None:
    """Invariants of a generated scenario: determinism, pairs, times, senders, duplicates, shares."""
    base = datetime(2026, 1, 1, tzinfo=UTC)
    build = lambda: build_scenario(sources, places, events=150, pairs=6, days=7, seed=3, base=base)  # noqa: E731
    one, two = build(), build()
    check(results, "same seed, same scenario", one.messages == two.messages and one.events == two.events)
    events = one.event_by_key()
    check(
        results,
        "arrival order is by time",
        all(a.at <= b.at for a, b in zip(one.messages, one.messages[1:], strict=False)),
    )
    reports = [m for m in one.messages if m.kind == "report"]
    spread = all(timedelta(0) <= m.at - events[m.event].start <= timedelta(hours=REPORT_SPREAD_HOURS) for m in reports)
    check(results, "reports fall within 6 h of their event's start", spread)
    by_event = group_by(reports, lambda m: m.event)
    check(
        results,
        "2-8 reports per event, each by a distinct sender",
        all(2 <= len(g) <= 8 and len({m.sender for m in g}) == len(g) for g in by_event.values()),
    )
    pair_checks(results, one)
    duplicate_checks(results, one)
    homes = sum(m.locative == "home" for m in reports) / len(reports)
    check(results, f"about 20 % of reports rely on the home village ({homes:.0%})", 0.12 <= homes <= 0.28)
    home_phones = {h.phone for h in one.homes}
    check(
        results,
        "home-village reports come from registered reporters",
        all(m.sender in home_phones for m in reports if m.locative == "home"),
    )
    numbers = all(re.fullmatch(r"\+2367\d{7}", m.sender) and re.fullmatch(r"SM[0-9a-f]{32}", m.sid) for m in reports)
    check(results, "senders are +2367xxxxxxx, MessageSids Twilio-shaped", numbers)
    check(
        results,
        "no two events at the same place within 24 h",
        not any(
            abs(a.start - b.start) < timedelta(hours=24) and km(a.lat, a.lon, b.lat, b.lon) < SAME_PLACE_KM
            for a, b in combinations(one.events, 2)
        ),
    )
    check(
        results,
        f"some real close pairs (<25 km, <24 h) exist ({close_pairs(one.events)})",
        close_pairs(one.events) >= 3,
    )


def pair_checks(results: list[str], scenario: Scenario) -> None:
    """The deliberate near pairs: 30-60 km within 6 h; the same place more than 48 h later."""
    events = scenario.event_by_key()
    near = [(events[e.key[5:]], e) for e in scenario.events if e.origin == "near"]
    later = [(events[e.key[6:]], e) for e in scenario.events if e.origin == "later"]
    check(results, f"near pairs present ({len(near)}) and later repeats present ({len(later)})", bool(near and later))
    check(
        results,
        "near events are 30-60 km away within 6 h",
        all(
            30 <= km(a.lat, a.lon, b.lat, b.lon) <= 60 and timedelta(0) < b.start - a.start <= timedelta(hours=6)
            for a, b in near
        ),
    )
    check(
        results,
        "later events are at the same place more than 48 h later",
        all((a.lat, a.lon) == (b.lat, b.lon) and b.start - a.start > timedelta(hours=48) for a, b in later),
    )


def duplicate_checks(results: list[str], scenario: Scenario) -> None:
    """Retries repeat a MessageSid after it; repeats reuse sender and text within minutes with a new sid."""
    by_sid = {m.sid: m for m in scenario.messages if m.kind == "report"}
    retries = [m for m in scenario.messages if m.kind == "retry"]
    repeats = [m for m in scenario.messages if m.kind == "repeat"]
    check(
        results,
        f"retries ({len(retries)}) repeat an earlier MessageSid with the same form",
        bool(retries)
        and all(m.sid in by_sid and by_sid[m.sid].at < m.at and by_sid[m.sid].body == m.body for m in retries),
    )
    check(
        results,
        f"repeats ({len(repeats)}) reuse sender and text within 10 minutes, new MessageSid",
        bool(repeats)
        and all(
            m.sid not in by_sid
            and by_sid[m.of or ""].sender == m.sender
            and by_sid[m.of or ""].body == m.body
            and m.at - by_sid[m.of or ""].at <= timedelta(minutes=10)
            for m in repeats
        ),
    )


def plumbing_checks(results: list[str], workdir: Path) -> None:
    """The simulated clock runs on from what was set and never goes back; a signed form verifies."""
    from app.intake.simulate import twilio_sms_form
    from app.security.signatures import sign_twilio, verify_twilio

    clock = SimClock(workdir / "clock")
    at = datetime(2026, 3, 1, 12, tzinfo=UTC)
    clock.set(at)
    first = clock.now()
    clock.set(at - timedelta(hours=5))
    check(
        results,
        "simulated clock starts where set and never goes back",
        timedelta(0) <= first - at < timedelta(seconds=1) and clock.now() >= first,
    )
    form = twilio_sms_form(message_sid=new_sid(random.Random(1)), sender="+23675000001", body="Attaque à Bria")
    url, token = "http://127.0.0.1:1/twilio/sms", "t0ken"
    signature = sign_twilio(auth_token=token, url=url, params=form)
    try:
        verify_twilio(auth_token=token, url=url, params=form, signature=signature)
        verified = True
    except ValueError:
        verified = False
    check(results, "signed Twilio form verifies", verified)


def self_test(args: argparse.Namespace) -> int:
    """Check the metric, scenario and plumbing code without a server; 0 when every check passes."""
    results: list[str] = []
    places = load_places(GAZETTEER)
    metric_checks(results)
    merge_checks(results)
    scenario_checks(results, load_sources(args.events_file, places), places)
    with tempfile.TemporaryDirectory(prefix="kengele-cluster-") as tmp:
        plumbing_checks(results, Path(tmp))
    print("\n".join(results))
    failed = sum(line.startswith("FAIL") for line in results)
    print(f"self-test: {len(results) - failed}/{len(results)} checks passed")
    return 1 if failed else 0


# --------------------------------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=150, help="real events to sample (default 150)")
    parser.add_argument("--seed", type=int, default=7, help="scenario seed (default 7)")
    parser.add_argument(
        "--days",
        type=float,
        default=30.0,
        help="simulated days the sampled events span (default 30: 5 a day, 1.5 times January 2014, the worst month)",
    )
    parser.add_argument("--pairs", type=int, default=6, help="events given a near pair and a later repeat (default 6)")
    parser.add_argument("--events-file", type=Path, default=None, help=f"events CSV (default {SHARED_EVENTS})")
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--postgres", default=DEFAULT_PG_ADMIN_URL, help="PostgreSQL admin URL")
    parser.add_argument("--scale", action="store_true", help="also time the batch over 10k and 1M history (PostgreSQL)")
    parser.add_argument("--scale-sizes", default="10k=10000,1m=1000000", help="label=reports,… for --scale")
    parser.add_argument(
        "--closed-status", default="resolved", help="status given to history incidents older than 3 days"
    )
    parser.add_argument(
        "--no-lockstep",
        dest="lockstep",
        action="store_false",
        help="send without waiting for each message to be processed",
    )
    parser.add_argument("--self-test", action="store_true", help="check metrics and scenario code; no server")
    args = parser.parse_args(argv)
    args.events_file = args.events_file or default_events_path()
    if args.events < 1 or args.days <= 0 or args.pairs < 0:
        parser.error("--events must be positive, --days positive, --pairs not negative")
    return args


def scale_sizes(spec: str) -> dict[str, int]:
    """'10k=10000,1m=1000000' -> {'10k': 10000, '1m': 1000000}."""
    return {label: int(count) for label, _, count in (part.partition("=") for part in spec.split(",") if part)}


def run_scale(args: argparse.Namespace, scenario: Scenario, workdir: Path) -> dict[str, dict[str, Any]]:
    """The cost-per-report runs, one fresh PostgreSQL database per history size."""
    if not args.scale:
        return {}
    problem = postgres_problem(args.postgres)
    if problem:
        print(f"- scale: skipped, PostgreSQL not reachable ({problem})", flush=True)
        return {}
    runs = {}
    for label, size in scale_sizes(args.scale_sizes).items():
        runs[label] = scale_run(args, scenario, workdir, size)
        note = "" if runs[label]["drained"] else f" (NOT drained: {runs[label]['failed_rows']} rows left)"
        print(f"- scale {size:,}: {runs[label]['ms_per_report'] or float('nan'):.2f} ms per report{note}", flush=True)
    return runs


def exit_on_sigterm(signum: int, _frame: object) -> None:
    """Turn SIGTERM into SystemExit so `finally` blocks stop the servers and drop the databases."""
    sys.exit(128 + signum)


def run(args: argparse.Namespace) -> int:
    """Build the scenario, replay it, score it, optionally time it at scale; print and write the record."""
    places = load_places(GAZETTEER)
    base = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    scenario = build_scenario(
        load_sources(args.events_file, places),
        places,
        events=args.events,
        pairs=args.pairs,
        days=args.days,
        seed=args.seed,
        base=base,
    )
    print(
        f"- scenario: {len(scenario.events)} events, {len(scenario.messages)} messages, "
        f"{len(scenario.homes)} home reporters, {close_pairs(scenario.events)} close pairs",
        flush=True,
    )
    if args.database == "postgres" and (problem := postgres_problem(args.postgres)):
        sys.exit(f"error: PostgreSQL not reachable ({problem})")
    if not incidents_available():
        print("- note: `kengele incidents` does not exist yet: clustering figures will be null", flush=True)
    with tempfile.TemporaryDirectory(prefix="kengele-cluster-") as tmp:
        outcome = quality_run(args, scenario, Path(tmp))
        print(
            f"- {args.database}: {len(scenario.messages)} messages replayed in {outcome.push_seconds:.0f} s", flush=True
        )
        scale = run_scale(args, scenario, Path(tmp))
    record = build_record(args, scenario, outcome, scale)
    print_worst(scenario, outcome)
    print_table(record)
    RESULTS_FILE.parent.mkdir(parents=True, exist_ok=True)
    RESULTS_FILE.write_text(json.dumps(record, indent=2) + "\n")
    plot_cluster(record, RESULTS_FILE.with_suffix(".png"))
    write_incidents(scenario, outcome)
    print(json.dumps(record))
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point: the benchmark, its self-test, or (internally) a kengele command under the simulated clock."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["_clocked"]:
        return run_clocked(argv[1:])
    args = parse_args(argv)
    if args.self_test:
        return self_test(args)
    signal.signal(signal.SIGTERM, exit_on_sigterm)
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
