"""Twilio's callbacks about what Kengele sent: message and call status, and the keypad answer to an alert call."""

from __future__ import annotations

from fastapi import APIRouter, Response

from app.core.clock import utcnow
from app.core.deps import SessionDep, SettingsDep
from app.escalation import service as escalation
from app.escalation import tasks as escalation_tasks
from app.incidents.models import Incident
from app.notify import service, twiml
from app.security.dependencies import VerifiedTwilioForm
from app.units.models import Unit
from app.verification import service as verification

router = APIRouter(tags=["twilio"])
SID_LENGTH = 64
FORM_BODY = {"requestBody": {"required": True, "content": {"application/x-www-form-urlencoded": {"schema": {
    "type": "object", "additionalProperties": {"type": "string"}}}}}}  # fmt: skip
XML = {"content": {"text/xml": {"schema": {"type": "string"}}}}
SIGNED = {403: {"description": "Missing or wrong X-Twilio-Signature"}, 415: {"description": "Not a form post"},
          503: {"description": "Twilio webhooks closed: no auth token"}}  # fmt: skip


@router.post(
    "/twilio/status", status_code=204, response_class=Response, openapi_extra=FORM_BODY,
    responses={204: {"description": "Recorded (or not ours, or older than what we know)"}, **SIGNED},
)  # fmt: skip
def twilio_status(form: VerifiedTwilioForm, session: SessionDep) -> Response:
    """A message or call status callback; statuses never move backwards, whatever order they arrive in."""
    sid = str(form.get("MessageSid") or form.get("CallSid") or "")[:SID_LENGTH]
    status = str(form.get("MessageStatus") or form.get("CallStatus") or "")[:20]
    if sid and status:
        error = str(form.get("ErrorCode") or "")[:32] or None
        service.apply_status(session=session, provider_id=sid, status=status, error_code=error, now=utcnow())
    return Response(status_code=204)


@router.post(
    "/twilio/voice/gather", response_class=Response, openapi_extra=FORM_BODY,
    responses={200: {"description": "TwiML: thanks, or try again", **XML}, **SIGNED},
)  # fmt: skip
def twilio_voice_gather(form: VerifiedTwilioForm, session: SessionDep, settings: SettingsDep) -> Response:
    """The key a unit pressed during an alert call: 1 acknowledges the incident the call was about."""
    digits = str(form.get("Digits") or "")[:4]
    notification = service.by_provider_id(session=session, provider_id=str(form.get("CallSid") or "")[:SID_LENGTH])
    if notification is not None and twiml.is_acknowledgement(digits) and notification.incident_id is not None:
        incident = session.get(Incident, notification.incident_id)
        unit = session.get(Unit, notification.unit_id) if notification.unit_id is not None else None
        if incident is not None:
            actor = unit.name if unit else "voice"
            escalation.acknowledge(
                session=session, incident=incident, actor=actor, via="voice", unit=unit, now=utcnow()
            )
    return Response(twiml.gather_result(digits, settings.default_language), media_type="text/xml")


@router.post(
    "/twilio/voice/confirm", response_class=Response, openapi_extra=FORM_BODY,
    responses={200: {"description": "TwiML: thanks, or try again", **XML}, **SIGNED},
)  # fmt: skip
def twilio_voice_confirm(form: VerifiedTwilioForm, session: SessionDep, settings: SettingsDep) -> Response:
    """A CLA's key on a confirmation call: 1 confirmed, 2 false, 3 does not know; an answering machine counts for
    nothing."""
    digits = str(form.get("Digits") or "")[:4]
    if str(form.get("AnsweredBy") or "").startswith("machine"):
        return Response(twiml.hang_up(), media_type="text/xml")
    notification = service.by_provider_id(session=session, provider_id=str(form.get("CallSid") or "")[:SID_LENGTH])
    answer = verification.ANSWERS.get(digits.strip())
    if notification is None or notification.purpose != "confirm" or answer is None or notification.incident_id is None:
        return Response(twiml.gather_result(None, settings.default_language), media_type="text/xml")
    incident = session.get(Incident, notification.incident_id)
    cla = verification.cla_for_reporter(session=session, reporter_id=notification.reporter_id)
    if incident is not None and cla is not None:
        escalation_tasks.apply_answer(session, incident, answer, actor=f"cla:{cla.name}", via="voice")
    return Response(twiml.answer_received(settings.default_language), media_type="text/xml")
