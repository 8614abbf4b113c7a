"""An incident as an OASIS CAP 1.2 alert, one message of the incident's thread (pure).

The thread: the incident as it was opened is the Alert (revision 0); each later change on its timeline is an
Update (revision n) whose `references` names the message before it and the Alert; a false alarm or a merge is a
Cancel. Every message also names the incident in `incidents`, so a reader that missed some can still group them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from app.exports.facts import IncidentRecord, acled_types, cap_certainty
from app.exports.xmlwriter import Element, to_xml

CAP_NS = "urn:oasis:names:tc:emergency:cap:1.2"
MEDIA_TYPE = "application/cap+xml"
# Placeholders until a setting names the deployment's host: CAP wants a sender unique to the originator, and
# identifiers unique across every Kengele deployment a partner may read.
SENDER = "kengele@kengele.example.org"
DEPLOYMENT = "cf"
WORDS_FILE = Path(__file__).with_name("cap_words.json")
DEFAULT_LANGUAGE = "fr"

VOID = frozenset({"false_alarm", "merged"})  # the incident no longer stands: its thread ends with a Cancel
CLOSED = VOID | {"resolved"}
URGENCY = {"P1": "Immediate", "P2": "Immediate", "P3": "Expected", "P4": "Future"}
# Everything Kengele hears is about armed actors, except people fleeing (a safety matter) and the unclassified.
CATEGORY = {"displacement": "Safety", "other": "Other"}
SEVERITIES = ("Extreme", "Severe", "Moderate", "Minor", "Unknown")


@dataclass(frozen=True)
class Message:
    """Which message of its incident's thread an alert is."""

    identifier: str
    sent: datetime
    msg_type: str  # Alert, Update, Cancel
    references: str | None  # "sender,identifier,sent" of the Alert and of the message before this one


@dataclass(frozen=True)
class CapAlert:
    """A built alert: the element to serialise or embed, and what a feed entry needs to describe it."""

    ref: str
    message: Message
    headline: str
    element: Element

    def to_xml(self) -> str:
        return to_xml(self.element)


def cap_datetime(moment: datetime) -> str:
    """CAP's date-time: to the second, with an offset; UTC is written -00:00 (CAP forbids Z)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S") + "-00:00"


def identifier(ref: str, sent: datetime, revision: int, deployment: str = DEPLOYMENT) -> str:
    """A message identifier unique per deployment, incident and revision (no spaces, commas, < or &)."""
    return f"kengele-{deployment}-{ref}-{sent.astimezone(UTC):%Y%m%dT%H%M%SZ}-r{revision}"


def message(
    record: IncidentRecord, changes: Sequence[datetime], *, sender: str = SENDER, deployment: str = DEPLOYMENT
) -> Message:
    """The incident's current message: Alert as opened, Update after its changes, Cancel once it is void."""
    versions = [record.created_at, *sorted(changes)]
    revision = len(versions) - 1
    sent = versions[-1]
    msg_type = "Cancel" if record.status in VOID else ("Update" if revision else "Alert")
    # Several changes can land between two reads, so the message before may never have been seen: name the
    # Alert too, which every reader of the thread has.
    earlier = sorted({0, revision - 1}) if revision else []
    references = " ".join(
        f"{sender},{identifier(record.ref, versions[n], n, deployment)},{cap_datetime(versions[n])}" for n in earlier
    )
    return Message(identifier(record.ref, sent, revision, deployment), sent, msg_type, references or None)


def alert(
    record: IncidentRecord,
    changes: Sequence[datetime] = (),
    *,
    exercise: bool = False,
    language: str = DEFAULT_LANGUAGE,
    sender: str = SENDER,
    deployment: str = DEPLOYMENT,
) -> CapAlert:
    """The CAP 1.2 alert for an incident, scope Restricted; `exercise` marks a drill (status Exercise)."""
    language = language if language in _all_words() else DEFAULT_LANGUAGE
    words = _all_words()[language]
    msg = message(record, changes, sender=sender, deployment=deployment)
    root = Element("alert", attrs={"xmlns": CAP_NS})
    root.add("identifier", msg.identifier)
    root.add("sender", sender)
    root.add("sent", cap_datetime(msg.sent))
    root.add("status", "Exercise" if exercise else "Actual")
    root.add("msgType", msg.msg_type)
    # Never Public: the facts come from informants, and an exact village, time and act can endanger them.
    root.add("scope", "Restricted")
    root.add("restriction", words["restriction"])
    note = _note(record, words, exercise=exercise, cancel=msg.msg_type == "Cancel")
    if note:
        root.add("note", note)
    if msg.references:
        root.add("references", msg.references)
    root.add("incidents", record.ref)
    headline = _headline(record, words)
    headline = words["exercise_headline"].format(headline=headline) if exercise else headline
    root.append(_info(record, words, language, headline))
    return CapAlert(record.ref, msg, headline, root)


def urgency(record: IncidentRecord) -> str:
    """Immediate for P1 and P2, Expected for P3, Future for P4; Past once the incident is closed."""
    if record.status in CLOSED:
        return "Past"
    return URGENCY.get(record.priority or "", "Unknown")


def response_type(record: IncidentRecord) -> str:
    """What the (restricted) audience should do: prepare for the urgent, monitor the rest, stand down at the end."""
    if record.status == "resolved":
        return "AllClear"
    if record.status in VOID:
        return "None"
    return "Prepare" if record.priority in ("P1", "P2") else "Monitor"


def _info(record: IncidentRecord, words: dict[str, Any], language: str, headline: str) -> Element:
    info = Element("info")
    info.add("language", language)
    info.add("category", CATEGORY.get(record.category, "Security"))
    info.add("event", _event(record, words))
    info.add("responseType", response_type(record))
    info.add("urgency", urgency(record))
    severity = record.severity.capitalize()  # Kengele keeps CAP's severities, lower-cased
    info.add("severity", severity if severity in SEVERITIES else "Unknown")
    info.add("certainty", cap_certainty(record.verification, record.reporter_count))
    for name, value in _event_codes(record):
        code = info.add("eventCode")
        code.add("valueName", name)
        code.add("value", value)
    info.add("senderName", words["sender_name"])
    info.add("headline", headline)
    info.add("description", _description(record, words))
    for name, value in _parameters(record):
        parameter = info.add("parameter")
        parameter.add("valueName", name)
        parameter.add("value", value)
    info.append(_area(record, words))
    return info


def _event(record: IncidentRecord, words: dict[str, Any]) -> str:
    return words["events"].get(record.category, words["events"]["other"])


def _headline(record: IncidentRecord, words: dict[str, Any]) -> str:
    event = _event(record, words)
    if record.place:
        return words["headline"].format(ref=record.ref, event=event, place=record.place)
    return words["headline_unlocated"].format(ref=record.ref, event=event)


def _description(record: IncidentRecord, words: dict[str, Any]) -> str:
    """Category, place, counts, times and state: the incident's facts, never what anyone wrote."""
    event = _event(record, words)
    if record.place:
        lines = [words["what"].format(event=event, place=record.place)]
    else:
        lines = [words["what_unlocated"].format(event=event)]
    if record.ring_m and record.place:
        lines.append(words["ring"].format(km=_km(record.ring_m), place=record.place))
    lines.append(words["counts"].format(reports=record.report_count, reporters=record.reporter_count))
    if record.dead_min is not None:
        dead = str(record.dead_min) if record.dead_min == record.dead_max else f"{record.dead_min}–{record.dead_max}"
        lines.append(words["dead"].format(dead=dead))
    lines.append(words["times"].format(first=_minute(record.first_report_at), last=_minute(record.last_report_at)))
    status = words["status"].get(record.status, record.status)
    verification = words["verification"].get(record.verification, record.verification)
    lines.append(words["state"].format(status=status, verification=verification))
    return "\n".join(lines)


def _event_codes(record: IncidentRecord) -> list[tuple[str, str]]:
    event_type, sub_event_type = acled_types(record.category)
    codes = [("kengele_category", record.category)]
    if event_type and sub_event_type:
        codes += [("acled_event_type", event_type), ("acled_sub_event_type", sub_event_type)]
    return codes


def _parameters(record: IncidentRecord) -> list[tuple[str, str]]:
    parameters = [("priority", record.priority)] if record.priority else []
    parameters += [("status", record.status), ("verification", record.verification),
                   ("reports", str(record.report_count)), ("reporters", str(record.reporter_count))]  # fmt: skip
    if record.dead_min is not None:
        parameters += [("dead_min", str(record.dead_min)), ("dead_max", str(record.dead_max))]
    return parameters


def _area(record: IncidentRecord, words: dict[str, Any]) -> Element:
    """The place named, and a circle: the position's precision, or the whole ring for "N km from Y"."""
    area = Element("area")
    area.add("areaDesc", record.place or words["place_unknown"])
    if record.lat is not None and record.lon is not None:
        radius_m = (record.ring_m or 0.0) + (record.precision_m or 0.0)
        area.add("circle", f"{record.lat:.6f},{record.lon:.6f} {_km(radius_m)}")  # latitude first, unlike GeoJSON
    return area


def _note(record: IncidentRecord, words: dict[str, Any], *, exercise: bool, cancel: bool) -> str | None:
    """CAP 1.2 wants an Exercise named as such in <note>, and a Cancel explained there: one note holds both."""
    notes = ([words["exercise_note"]] if exercise else []) + ([_cancel_note(record, words)] if cancel else [])
    return " ".join(notes) or None


def _cancel_note(record: IncidentRecord, words: dict[str, Any]) -> str:
    if record.status == "merged":
        return words["cancel_merged"].format(into=record.merged_into or "?")
    return words["cancel_false_alarm"]


def _km(metres: float) -> str:
    return f"{metres / 1000:.3f}".rstrip("0").rstrip(".") or "0"


def _minute(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M")


@lru_cache
def _all_words() -> dict[str, dict[str, Any]]:
    data = json.loads(WORDS_FILE.read_text(encoding="utf-8"))
    return {lang: words for lang, words in data.items() if not lang.startswith("_")}


def feed_title(language: str) -> str:
    """The title of a feed of alerts in this language."""
    words = _all_words()
    return (words.get(language) or words[DEFAULT_LANGUAGE])["feed_title"]
