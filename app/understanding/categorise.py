"""Category, negation, counts, weapons and severity from lexicon hits (pure)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from app.understanding.lexicon import Hit, Lexicon
from app.understanding.schemas import CATEGORIES, Counts

# How much one word of evidence counts per category, in the order of seriousness used to label a message
# that reports several acts: sexual violence > abduction > attack > clash > burning > looting > threat >
# displacement > presence > gunfire. "Shots" and movement words turn up in every kind of report, so presence
# and gunfire need more evidence to win than a rape or an abduction.
CATEGORY_WEIGHT = {
    "sexual_violence": 1.6,
    "abduction": 1.4,
    "attack_civilians": 1.3,
    "armed_clash": 1.3,
    "burning": 1.2,
    "looting": 1.1,
    "threat": 1.1,
    "displacement": 0.8,
    "armed_presence": 0.6,
    "gunfire": 0.7,
    "other": 0.0,
}
# Ties go to the more specific, more serious category.
PRECEDENCE = {code: rank for rank, code in enumerate(CATEGORY_WEIGHT)}

# Lexicon labels that are not categories: they say how the acts around them count.
ACTOR = "actor"  # armed group names, "armed men": presence when nothing more serious is reported
CASUALTY = "casualty"  # dead, died, bodies, wounded: the toll of whatever else is reported
FUTURE = "future"  # "vont", "will", "bakoya", "ayeke ga ti", "بجو": the act that follows is a threat
BACKGROUND = "background"  # "apres", "after", "kwa hofu ya": the act that follows is context, not news
BETWEEN = "between"  # "entre", "contre", "kati ya", "بين": "... between <actor> and ..." is a clash
FORCES = "forces"  # FACA, MINUSCA, soldiers, "la base": an attack on them is a clash, not on civilians
NATURAL = "natural"  # earthquake, hunger, cholera: deaths and "killing" next to them, with no actor, are not violence
PLACE = "place"  # "camp de deplaces", "IDP camp": where it happened, not what happened
CIVILIANS = "civilians"  # "familles", "households", "wakazi": with no armed actor, their movement is displacement
# Any other label ("neutral": "feux de brousse", "coup de fil") only hides the alert words inside it.
MARKERS = frozenset({FUTURE, BACKGROUND, BETWEEN, "threat"})
# One mention of an actor, whatever its length ("bato ya mandoki" is no more than "UPC"), below any act.
ACTOR_WEIGHT = 0.5
CASUALTY_WEIGHT = 0.8
# A fight between named armed groups, even with a vague verb ("ضرب شديد بين FPRC و UPC").
BETWEEN_ACTORS_WEIGHT = 1.3
# Acts a future marker (or a threat verb: "menacent de bruler") turns into a threat.
FUTURE_ACTS = frozenset(
    {
        "attack_civilians",
        "abduction",
        "sexual_violence",
        "armed_clash",
        "looting",
        "burning",
        "gunfire",
        "armed_presence",
        CASUALTY,
    }
)
# Acts that show violence: with one of them (or an actor) deaths are an attack's toll.
VIOLENT_ACTS = frozenset({"attack_civilians", "abduction", "sexual_violence", "looting", "burning", "gunfire"})
# Acts that, next to hunger, disease or an earthquake and with no armed actor, are the disaster's doing.
DISASTER_ACTS = frozenset({"attack_civilians", CASUALTY, "abduction", "threat", "displacement"})
FUTURE_WINDOW = 4  # words from the marker's end to the act
THREAT_WINDOW = 8  # a threat verb governs its whole clause: "menacent ... si ... ils vont bruler"
BACKGROUND_WINDOW = 4
BACKGROUND_FACTOR = 0.3
BETWEEN_WINDOW = 2
FORCES_WINDOW = 4  # "ont attaque la base de la MINUSCA"
NATURAL_WINDOW = 4  # "mouri grangou", "grangou ap touye nou", "frappe par le seisme"
# A report of calm outweighs evidence weaker than one plain act ("calme apres la patrouille").
CALM_OVERRIDE = 1.0
NEGATION_WINDOW = 3
COUNT_WINDOW = 3
# Numbers followed by these are distances, times or dates, not people.
NOT_PEOPLE = frozenset(
    {
        "km",
        "kms",
        "kilometres",
        "kilometers",
        "kilometre",
        "h",
        "heures",
        "hours",
        "hrs",
        "hr",
        "min",
        "minutes",
        "jours",
        "days",
        "ans",
        "years",
        "m",
        "metres",
        "fc",
        "fcfa",
        "cfa",
        "pm",
        "am",
        "mn",
        "e",
        "eme",
        "er",
    }
)
MAX_PLAUSIBLE_COUNT = 5000
# Numbers after these are road marks or references, not people: "km 130", "PK 12", "no 5".
MARKS = frozenset({"km", "kms", "pk", "no", "numero", "nr"})
ABOUT = "about"  # counts label for estimates: "environ", "about", "حوالي"
ARABIC_AND = "و"  # the conjunction is written onto the next word


@dataclass
class Categorisation:
    """The result of scoring one message against its lexicons."""

    category: str
    categories: list[str]
    negated: bool
    counts: Counts
    weapons: list[str]


def _negated(hit: Hit, words: Sequence[str], lexicon: Lexicon) -> bool:
    if lexicon.negation_after:
        window = words[hit.end : hit.end + NEGATION_WINDOW]
    else:
        window = words[max(0, hit.start - NEGATION_WINDOW) : hit.start]
    return any(w in lexicon.negations for w in window)


def score_categories(
    words: Sequence[str], lexicons: Sequence[tuple[Lexicon, float]]
) -> tuple[dict[str, float], dict[str, float], bool]:
    """Weighted evidence per label (categories and the labels above), the negated evidence, and calm."""
    found: dict[tuple[str, int, int], tuple[float, bool]] = {}
    calm = False
    for lexicon, trust in lexicons:
        for hit in lexicon.categories.find(words):
            if hit.label == ACTOR:
                weight = ACTOR_WEIGHT * trust
            else:
                weight = hit.weight * CATEGORY_WEIGHT.get(hit.label, CASUALTY_WEIGHT) * trust
            key = (hit.label, hit.start, hit.end)
            # The same words found by several lexicons are one piece of evidence, at the most trusted weight.
            if key not in found or found[key][0] < weight:
                found[key] = (weight, _negated(hit, words, lexicon))
        calm = calm or bool(lexicon.calm.find(words))
    hits = _longest([Hit(label, start, end, weight) for (label, start, end), (weight, _) in found.items()])
    negated = _negation_scopes(hits, {key: neg for key, (_, neg) in found.items()})
    governors = [h for h in hits if h.label in (FUTURE, "threat")]
    clashes = [h for h in hits if h.label == "armed_clash"]
    natural = [h for h in hits if h.label == NATURAL]
    # What people flee from is background too: "ils fuient les combats".
    backgrounds = [h for h in hits if h.label in (BACKGROUND, "displacement")]
    parties = [h for h in hits if h.label in (ACTOR, FORCES) and not negated[h]]
    forces = [h for h in parties if h.label == FORCES]
    positive: dict[str, float] = defaultdict(float)
    negative: dict[str, float] = defaultdict(float)
    for hit in hits:
        label, weight = hit.label, hit.weight
        if label in FUTURE_ACTS and any(_governs(g, hit) for g in governors):
            label, weight = "threat", weight / CATEGORY_WEIGHT.get(label, CASUALTY_WEIGHT) * CATEGORY_WEIGHT["threat"]
        if label == "attack_civilians" and (
            any(0 <= f.start - hit.end < FORCES_WINDOW for f in forces)  # "embuscade contre une patrouille FACA"
            or any(0 <= hit.start - c.end < FUTURE_WINDOW for c in clashes)  # "ont repousse une attaque"
        ):
            label, weight = "armed_clash", weight / CATEGORY_WEIGHT["attack_civilians"] * CATEGORY_WEIGHT["armed_clash"]
        if label in DISASTER_ACTS and not parties and any(_near(n, hit) for n in natural):
            continue  # "mouri grangou", "missing after the earthquake", "rumour of an aftershock"
        if any(_governs(b, hit) for b in backgrounds):
            weight *= BACKGROUND_FACTOR
        if label == BETWEEN:
            if not any(0 <= a.start - hit.end < BETWEEN_WINDOW for a in parties):
                continue
            label, weight = "armed_clash", BETWEEN_ACTORS_WEIGHT
        target = negative if negated[hit] else positive
        if label == ACTOR:
            target[label] = max(target[label], weight)  # more names do not make more presence
        else:
            target[label] += weight
    return positive, negative, calm


def _negation_scopes(hits: list[Hit], own: dict[tuple[str, int, int], bool]) -> dict[Hit, bool]:
    """Each hit's negation; it carries over to a hit right after a negated one ("aucun homme arme signale")."""
    negated, scope_end = {}, -2
    for hit in hits:  # in text order
        if hit.label in MARKERS:  # "vont", "apres", "entre" open a new clause
            negated[hit], scope_end = own[(hit.label, hit.start, hit.end)], -2
            continue
        negated[hit] = own[(hit.label, hit.start, hit.end)] or hit.start - scope_end <= 1
        if negated[hit]:
            scope_end = max(scope_end, hit.end)
    return negated


def _governs(marker: Hit, hit: Hit) -> bool:
    """Whether a marker ("vont", "menacent", "apres") stands just before the hit it changes.

    A future marker may be the act's own word (Swahili "watashambulia": they will attack)."""
    if marker.label == hit.label:
        return False
    if marker.label in (BACKGROUND, "displacement"):
        return 0 <= hit.start - marker.end < BACKGROUND_WINDOW
    window = THREAT_WINDOW if marker.label == "threat" else FUTURE_WINDOW
    return marker.start <= hit.start and hit.start - marker.end < window


def _near(marker: Hit, hit: Hit) -> bool:
    """Whether a marker stands within NATURAL_WINDOW words of the hit, either side."""
    return hit.start - marker.end < NATURAL_WINDOW and marker.start - hit.end < NATURAL_WINDOW


def _longest(hits: list[Hit]) -> list[Hit]:
    """Drop hits inside a longer hit ("hommes armes" counts once; "echange de tirs" is a clash, not shots)."""
    kept: list[Hit] = []
    for hit in sorted(hits, key=lambda h: (h.start, -(h.end - h.start))):
        if any(k.start <= hit.start and hit.end <= k.end and k.end - k.start > hit.end - hit.start for k in kept):
            continue
        kept.append(hit)
    return kept


def choose(positive: dict[str, float], negative: dict[str, float], calm: bool) -> tuple[str, list[str], bool]:
    """Pick the category: strongest evidence, ties to the more serious; all-negated or calm means 'other'.

    Actors alone make presence, below any act; shots with a named actor are presence too ("gunfire" is shots
    and nothing more). Deaths and wounds add to the clash or the violence they come with and count for nothing
    alone. Movement with no armed actor is displacement among displaced people ("500 nouveaux arrivants"),
    else nothing."""
    scores = {c: w for c, w in positive.items() if w > 0 and c in CATEGORIES}
    actor, casualty = positive.get(ACTOR, 0.0), positive.get(CASUALTY, 0.0)
    if positive.get(FORCES) and "armed_clash" in scores:
        # Soldiers or peacekeepers in a fight: its attacks are the battle ("patrol ambushed, firefight").
        scores["armed_clash"] += scores.pop("attack_civilians", 0.0)
    if casualty:
        if "armed_clash" in scores:
            scores["armed_clash"] += casualty
        elif actor or VIOLENT_ACTS & scores.keys():
            scores["attack_civilians"] = scores.get("attack_civilians", 0.0) + casualty
    if actor:
        scores["armed_presence"] = scores.get("armed_presence", 0.0) + actor + scores.pop("gunfire", 0.0)
    elif "armed_presence" in scores:
        # Arrivals with no armed man named: displaced people arriving, or nothing to report ("aid arrived").
        moved = scores.pop("armed_presence")
        if "displacement" in scores or PLACE in positive or CIVILIANS in positive:
            scores["displacement"] = scores.get("displacement", 0.0) + moved
    ranked = sorted(scores, key=lambda c: (-scores[c], PRECEDENCE.get(c, 99)))
    if not ranked or (calm and scores[ranked[0]] < CALM_OVERRIDE):
        denied = any(w > 0 and (c in CATEGORIES or c in (ACTOR, CASUALTY)) for c, w in negative.items())
        return "other", [], denied or calm
    return ranked[0], ranked, False


def _number(word: str, lexicon: Lexicon) -> int | None:
    if word.isdigit():
        value = int(word)
        return value if 0 < value <= MAX_PLAUSIBLE_COUNT else None
    value = lexicon.numbers.get(word)
    if value is None and word.startswith(ARABIC_AND) and len(word) > 2:
        value = lexicon.numbers.get(word[1:])  # "وتمانية": and eight
    return value


def _value(word: str, lexicons: Sequence[Lexicon]) -> int | None:
    return next((v for lexicon in lexicons if (v := _number(word, lexicon)) is not None), None)


def extract_counts(words: Sequence[str], lexicons: Sequence[Lexicon]) -> Counts:
    """Attach each number to the count word right after it ("3 morts") or right before it ("bato misato").

    A verb may come first ("ont massacre 11 personnes", "a fa azo 6"): a toll may follow its word, an armed
    group's strength may not ("ex-Seleka holding 7 drivers"), unless the number is an estimate ("hommes armes,
    environ 15"). "Pas de mort" with no number is 0 dead."""
    counts = Counts()
    found = [hit for lexicon in lexicons for hit in lexicon.counts.find(words)]
    nouns = [hit for hit in found if hit.label != ABOUT]
    estimates = {hit.end for hit in found if hit.label == ABOUT}
    noun_first = bool(lexicons) and lexicons[0].number_after_noun
    for i, word in enumerate(words):
        value = _value(word, lexicons)
        if value is None or (i + 1 < len(words) and words[i + 1] in NOT_PEOPLE) or (i and words[i - 1] in MARKS):
            continue
        if i + 1 < len(words) and _value(words[i + 1], lexicons) is not None:
            continue  # "une vingtaine", "deux cents": the next word says how many
        after = min((h for h in nouns if i < h.start <= i + COUNT_WINDOW), key=lambda h: h.start - i, default=None)
        before = max(
            (h for h in nouns if i - 2 <= h.end - 1 < i and (noun_first or h.label != "armed")),
            key=lambda h: h.end,
            default=None,
        )
        if noun_first and before is not None and after is not None and before.label == "armed":
            before = None  # "LRA watano wameuawa": five LRA were killed, the verb says what is counted
        chosen = (before or after) if noun_first else (after or before)
        if chosen is None and i in estimates:
            # "about 15 of them": the estimate is of the last people named before it.
            chosen = max((h for h in nouns if h.end <= i), key=lambda h: h.end, default=None)
        if chosen is not None and getattr(counts, chosen.label) is None:
            setattr(counts, chosen.label, value)
    if counts.dead is None and any(h.label == "dead" and _denied(h, words, lexicons) for h in nouns):
        counts.dead = 0
    return counts


def _denied(hit: Hit, words: Sequence[str], lexicons: Sequence[Lexicon]) -> bool:
    """A count word under a negation ("pas de mort", "no deaths", "hakuna vifo", "bato bakufi te")."""
    before = words[max(0, hit.start - NEGATION_WINDOW) : hit.start]
    after = words[hit.end : hit.end + NEGATION_WINDOW]
    return any(
        any(w in lexicon.negations for w in (after if lexicon.negation_after else before)) for lexicon in lexicons
    )


def extract_weapons(words: Sequence[str], lexicons: Sequence[Lexicon]) -> list[str]:
    """Weapon classes mentioned (firearm, bladed, heavy, bow), in a stable order."""
    found = {hit.label for lexicon in lexicons for hit in lexicon.weapons.find(words)}
    return sorted(found)


def severity(category: str, negated: bool, counts: Counts, weapons: list[str]) -> str:
    """A CAP severity from the category, the toll and the weapons."""
    if negated:
        return "minor"
    base = {
        "attack_civilians": "severe",
        "abduction": "severe",
        "sexual_violence": "severe",
        "armed_clash": "severe",
        "burning": "severe",
        "looting": "moderate",
        "threat": "moderate",
        "gunfire": "moderate",
        "displacement": "moderate",
        "armed_presence": "moderate",
    }.get(category, "minor")
    dead, wounded, abducted, armed = (
        (counts.dead or 0),
        (counts.wounded or 0),
        (counts.abducted or 0),
        (counts.armed or 0),
    )
    if dead >= 3 or dead + wounded >= 10 or abducted >= 5 or armed >= 50:
        return "extreme"
    if "heavy" in weapons and base == "severe":
        return "extreme"
    if base != "severe" and (dead or wounded or abducted or armed >= 20):
        return "severe"
    return base
