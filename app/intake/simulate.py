"""Replay a CSV of messages through the real Twilio SMS endpoint, signed the way Twilio signs."""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from app.security.signatures import sign_twilio

TEXT_COLUMNS = ("body", "text", "original", "message")
FROM_COLUMNS = ("from", "phone", "sender")
ID_COLUMNS = ("id", "message_id", "sid")
DEMO_ACCOUNT_SID = "AC" + "0" * 32
# Our own form field, covered by the signature like Twilio's: Kengele trusts it only when the signature holds.
EXERCISE_FIELD = "KengeleExercise"


class SimulationError(ValueError):
    """The CSV cannot be simulated (e.g. no text column); the message says why."""


@dataclass(frozen=True)
class SimulatedSms:
    line: int
    form: dict[str, str]


@dataclass
class SimulationReport:
    sent: int = 0
    accepted: int = 0
    errors: list[str] = field(default_factory=list)


def twilio_sms_form(
    *, message_sid: str, sender: str, body: str, account_sid: str = DEMO_ACCOUNT_SID, to: str = "+23670000000",
    exercise: bool = False,
) -> dict[str, str]:  # fmt: skip
    """The fields Twilio posts for an inbound SMS (the ones we read and the usual others), plus the drill mark."""
    form = {
        "MessageSid": message_sid,
        "SmsSid": message_sid,
        "AccountSid": account_sid,
        "From": sender,
        "To": to,
        "Body": body,
        "NumMedia": "0",
        "NumSegments": "1",
        "SmsStatus": "received",
        "ApiVersion": "2010-04-01",
    }
    return {**form, EXERCISE_FIELD: "1"} if exercise else form


def _pick(fieldnames: list[str], wanted: str | None, candidates: tuple[str, ...], what: str) -> str | None:
    lowered = {name.lower(): name for name in fieldnames}
    if wanted:
        if wanted.lower() not in lowered:
            raise SimulationError(f"line 1: no column named {wanted!r} for the {what}")
        return lowered[wanted.lower()]
    return next((lowered[c] for c in candidates if c in lowered), None)


def _synthetic_number(seed: str, country_prefix: str) -> str:
    # Deterministic and fictitious: the same CSV row always comes from the same sender.
    return country_prefix + str(int(hashlib.sha256(seed.encode()).hexdigest(), 16))[-8:]


def read_messages(
    path: Path,
    *,
    text_column: str | None = None,
    from_column: str | None = None,
    account_sid: str = DEMO_ACCOUNT_SID,
    to_number: str = "+23670000000",
    country_prefix: str = "+2367",
    exercise: bool = False,
) -> Iterator[SimulatedSms | str]:
    """Yield a Twilio form per row, or an error string naming the line of a row that cannot be sent."""
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        fields = reader.fieldnames or []
        text_col = _pick(fields, text_column, TEXT_COLUMNS, "message text")
        if text_col is None:
            raise SimulationError(f"line 1: no message column; expected one of {', '.join(TEXT_COLUMNS)}")
        from_col = _pick(fields, from_column, FROM_COLUMNS, "sender")
        id_col = _pick(fields, None, ID_COLUMNS, "id")
        for row in reader:
            line = reader.line_num
            if None in row:
                yield f"line {line}: more fields than the header"
                continue
            row_id = (row.get(id_col) or "").strip() if id_col else ""
            # Line and id together: some real files repeat ids (the Haiti set does, 16 times).
            seed = f"{path.name}:{line}:{row_id}"
            sender = (row.get(from_col) or "").strip() if from_col else ""
            # A drill of a file once sent for real must not pass for Twilio retrying it: its own MessageSids.
            sid_seed = f"{seed}:exercise" if exercise else seed
            form = twilio_sms_form(
                message_sid="SM" + hashlib.md5(sid_seed.encode(), usedforsecurity=False).hexdigest(),
                sender=sender or _synthetic_number(seed, country_prefix),
                body=row.get(text_col) or "",
                account_sid=account_sid,
                to=to_number,
                exercise=exercise,
            )
            yield SimulatedSms(line, form)


def send_all(
    messages: Iterator[SimulatedSms | str],
    *,
    post_url: str,
    signed_url: str,
    auth_token: str,
    concurrency: int = 8,
    on_done: Callable[[], None] = lambda: None,
    timeout: float = 20.0,
) -> SimulationReport:
    """POST every message, signed against `signed_url`; collects failures by line number."""
    report = SimulationReport()

    with httpx.Client(timeout=timeout) as client, ThreadPoolExecutor(max_workers=concurrency) as pool:

        def send(message: SimulatedSms) -> tuple[int, str | None]:
            signature = sign_twilio(auth_token=auth_token, url=signed_url, params=message.form)
            try:
                response = client.post(post_url, data=message.form, headers={"X-Twilio-Signature": signature})
            except httpx.HTTPError as exc:
                return message.line, f"line {message.line}: {type(exc).__name__}"
            if response.status_code != 200:
                return message.line, f"line {message.line}: HTTP {response.status_code}"
            return message.line, None

        pending = []
        for message in messages:
            if isinstance(message, str):
                report.errors.append(message)
                on_done()
                continue
            pending.append(pool.submit(send, message))
            if len(pending) >= concurrency * 4:
                _collect(pending.pop(0), report, on_done)
        for future in pending:
            _collect(future, report, on_done)
    return report


def _collect(future: Future[tuple[int, str | None]], report: SimulationReport, on_done: Callable[[], None]) -> None:
    _line, error = future.result()
    report.sent += 1
    if error:
        report.errors.append(error)
    else:
        report.accepted += 1
    on_done()
