"""Real CAR events and places for the benchmarks: the gazetteer, UCDP events, and SMS wording in four languages.

Shared by bench/cluster.py (its scenario), bench/pipeline.py and bench/scale.py (one real event per distinct place).
"""

from __future__ import annotations

import csv
import math
import random
import unicodedata
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
EVENTS_NAME = "car_events_2013_2016.csv"
SHARED_EVENTS = Path("/work/shared/data") / EVENTS_NAME
REPO_EVENT_COPIES = (REPO / "tests" / "data" / EVENTS_NAME, REPO / "app" / "data" / "demo" / EVENTS_NAME)
GAZETTEER = REPO / "app" / "data" / "demo" / "car_places.csv"
REAL_FIRST_DAY = datetime(2013, 1, 1, tzinfo=UTC)
PLACE_KINDS = ("town", "village", "city", "commune", "locality", "camp", "suburb", "forest", "location")

TEMPLATES: dict[str, dict[str, tuple[str, ...]]] = {
    "attack": {  # type_of_violence 3: one-sided violence against civilians
        "fr": (
            "Des hommes armés ont attaqué la population {loc}, {n} civils tués",
            "URGENT {loc} attaque contre les civils ce matin, {n} morts et des blessés",
            "Les rebelles tirent sur les habitants {loc}, on compte {n} morts",
            "{loc} des villageois tués par des hommes en armes, envoyez la MINUSCA svp",
        ),
        "en": (
            "Armed men attacked civilians {loc}, {n} people killed",
            "URGENT gunmen attacked the village {loc} this morning, {n} dead",
            "{loc} civilians killed by armed men, please send help",
        ),
        "sg": (
            "Azo ti bira a fa azo {n} {loc}",
            "{loc} azo ti bira a pika azo, a fa azo {n}",
            "Seleka a fa azo {loc} laso, mbeto ayeke ngangu",
        ),
        "ln": (
            "Bato ya mandoki babomi bato {n} {loc}",
            "{loc} bato ya mandoki babeti bato masasi, bato {n} bakufi",
            "Babomi bato {loc} lelo na tongo, tosengi lisalisi",
        ),
    },
    "clash": {  # type_of_violence 1: state forces against an armed group
        "fr": (
            "Affrontements entre les FACA et les rebelles {loc}, tirs nourris",
            "Combats {loc} entre la MINUSCA et des hommes armés depuis ce matin",
            "{loc} accrochage entre militaires et groupe armé, {n} morts",
        ),
        "en": (
            "Fighting between FACA and rebels {loc}, heavy gunfire",
            "Clashes {loc} between peacekeepers and an armed group, {n} dead",
        ),
        "sg": ("FACA na azo ti bira a pika tere {loc}", "Bira {loc} na popo ti MINUSCA na azo ti bira"),
        "ln": (
            "Basoda na bato ya mandoki babundi {loc}",
            "Bitumba makasi {loc} kati na basoda na bato ya mandoki, bato {n} bakufi",
        ),
    },
    "fight": {  # type_of_violence 2: armed groups against each other
        "fr": (
            "Combats entre anti-balaka et ex-Seleka {loc}, {n} morts",
            "{loc} affrontements entre deux groupes armés, la population fuit",
        ),
        "en": (
            "Clashes between anti-balaka and ex-Seleka {loc}, {n} killed",
            "Two armed groups are fighting {loc}, people are fleeing",
        ),
        "sg": ("Bira na popo ti anti balaka na Seleka {loc}", "Anti balaka na Seleka a pika tere {loc}, azo {n} a kui"),
        "ln": (
            "Bitumba kati na anti balaka na Seleka {loc}, bato {n} bakufi",
            "Bitumba {loc} kati na UPC na anti balaka",
        ),
    },
}
FAMILIES = {"1": "clash", "2": "fight", "3": "attack"}
LOCATIVES: dict[str, dict[str, str]] = {
    "at": {"fr": "à {p}", "en": "in {p}", "sg": "na {p}", "ln": "na {p}"},
    "near": {"fr": "près de {p}", "en": "near {p}", "sg": "nduru na {p}", "ln": "pene na {p}"},
    "offset": {"fr": "à {k} km de {p}", "en": "{k} km from {p}", "sg": "na {k} km ti {p}", "ln": "na {k} km na {p}"},
    "road": {"fr": "sur l'axe {p}", "en": "on the {p} road", "sg": "na lege ti {p}", "ln": "na nzela ya {p}"},
    "home": {"fr": "dans notre village", "en": "in our village", "sg": "na kodoro ti e", "ln": "na mboka na biso"},
}


@dataclass(frozen=True)
class Place:
    """A gazetteer entry of the demo region."""

    name: str
    kind: str
    lat: float
    lon: float


@dataclass(frozen=True)
class Source:
    """A real UCDP event usable for the scenario."""

    id: str
    day: int
    lat: float
    lon: float
    family: str
    place: Place | None
    description: str
    deaths: int


def km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in km."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    a = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    return 2 * 6371.0088 * math.asin(min(1.0, math.sqrt(a)))


def fold(text: str) -> str:
    """Lower case without accents, for name lookups."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).strip()


def default_events_path() -> Path:
    """The shared events file, or the first repo copy of it."""
    return next((path for path in (SHARED_EVENTS, *REPO_EVENT_COPIES) if path.is_file()), SHARED_EVENTS)


def load_places(path: Path) -> list[Place]:
    """The demo gazetteer's places."""
    with path.open(encoding="utf-8", newline="") as handle:
        return [Place(r["name"], r["kind"], float(r["lat"]), float(r["lon"])) for r in csv.DictReader(handle)]


def canonical_place(where_coordinates: str, by_name: dict[str, Place]) -> Place | None:
    """The gazetteer place UCDP names in `where_coordinates` ("Bambari town" -> Bambari), if any."""
    words = where_coordinates.split()
    name = " ".join(words[:-1]) if len(words) > 1 and words[-1] in PLACE_KINDS else where_coordinates
    return by_name.get(fold(name))


def source_from_row(row: dict[str, str], by_name: dict[str, Place]) -> Source | None:
    """A usable event (where_prec <= 2, coordinates, some place text), else None."""
    if row["where_prec"].strip() not in ("1", "2") or not row["lat"] or not row["lon"]:
        return None
    family = FAMILIES.get(row["type_of_violence"].strip())
    description = " ".join(row["where_description"].split())
    place = canonical_place(row["where_coordinates"], by_name)
    if family is None or (place is None and not description):
        return None
    day = (datetime.fromisoformat(row["date_start"]).replace(tzinfo=UTC) - REAL_FIRST_DAY).days
    deaths = int(row["best"]) if row["best"].strip().isdigit() else 0
    return Source(row["id"], day, float(row["lat"]), float(row["lon"]), family, place, description, deaths)


def load_sources(path: Path, places: list[Place]) -> list[Source]:
    """Every usable event of the events file, in file order."""
    by_name = {fold(place.name): place for place in places}
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    return [source for row in rows if (source := source_from_row(row, by_name)) is not None]


def compose_text(family: str, deaths: int, lang: str, loc: str, rng: random.Random) -> str:
    """The SMS text: a template of the event's family in the language, with the place and a death toll."""
    toll = max(1, (deaths or rng.randint(1, 10)) + rng.randint(-2, 2))
    text = rng.choice(TEMPLATES[family][lang]).format(loc=loc, n=toll)
    return text[0].upper() + text[1:] if rng.random() < 0.7 else text


@dataclass(frozen=True)
class PlaceMessage:
    """One SMS about one real event, at a place no other message of its set comes near."""

    sid: str
    sender: str
    body: str
    language: str
    event_id: str
    place: Place

    def form(self, account_sid: str | None = None) -> dict[str, str]:
        """The Twilio inbound SMS form of this message (to the deployment's Twilio account when given)."""
        from app.intake.simulate import twilio_sms_form

        account = {"account_sid": account_sid} if account_sid else {}
        return twilio_sms_form(message_sid=self.sid, sender=self.sender, body=self.body, **account)


def distinct_place_messages(
    *, separation_km: float | None = None, seed: int = 9, sender_prefix: str = "+23672"
) -> list[PlaceMessage]:
    """One SMS per real UCDP event at its own gazetteer place, every two places `separation_km` apart or more.

    The default separation is 1 km more than the farthest clustering ever joins two reports (15 km), so that every
    message opens an incident of its own; each message is kept only if Kengele's own parser reads it as violence
    located within 1 km of the event's place. Places whose name the gazetteer holds twice are skipped. Senders are
    fresh numbers under `sender_prefix`, never a demo unit's or CLA's.
    """
    from app.geo.gazetteer import Gazetteer
    from app.incidents.clustering import MAX_JOIN_DISTANCE_M
    from app.understanding.service import MessageParser, ReporterContext

    separation_km = separation_km if separation_km is not None else MAX_JOIN_DISTANCE_M / 1000 + 1.0

    rng = random.Random(seed)
    places = load_places(GAZETTEER)
    names = Counter(fold(place.name) for place in places)
    first_event: dict[str, Source] = {}
    for source in load_sources(default_events_path(), places):
        if source.place is not None and names[fold(source.place.name)] == 1:
            first_event.setdefault(source.place.name, source)
    events = list(first_event.values())
    rng.shuffle(events)
    parser = MessageParser(Gazetteer.from_csv(GAZETTEER))
    numbers = iter(rng.sample(range(1_000_000), len(events)))
    chosen: list[PlaceMessage] = []
    for event in events:
        place = event.place
        assert place is not None
        if any(km(place.lat, place.lon, other.place.lat, other.place.lon) < separation_km for other in chosen):
            continue
        languages = rng.sample(["fr", "en", "sg", "ln"], 4)
        for language in languages:
            where_said = LOCATIVES["at"][language].format(p=place.name)
            body = compose_text(event.family, event.deaths, language, where_said, rng)
            parsed = parser.parse(body, reporter=ReporterContext())
            where = parsed.location
            violent = parsed.understanding.category not in (None, "other")
            if violent and where.lat is not None and km(where.lat, where.lon, place.lat, place.lon) < 1.0:
                sid = f"SM{rng.getrandbits(128):032x}"
                chosen.append(PlaceMessage(sid, f"{sender_prefix}{next(numbers):06d}", body, language, event.id, place))
                break
    return chosen
